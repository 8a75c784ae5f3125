import type { Conversation, Message } from '@natter/client';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { timeOf } from '../format.js';
import type { ChatStore } from '../store.js';
import { Icon } from './Icon.js';

/** Full-text search over this conversation's messages, newest first, matches marked. */
export function SearchPanel({ store, conv, onClose }: { store: ChatStore; conv: Conversation; onClose: () => void }) {
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<{ message: Message; highlight: string }[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const q = query.trim();
    if (!q) return setResults(null);
    let current = true;
    const timer = setTimeout(() => {
      api.searchMessages(store.client, q, conv.id).then(
        (found) => current && (setResults(found), setError(null)),
        (err: unknown) => current && setError(err instanceof Error ? err.message : 'Search failed'),
      );
    }, 200);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [store, conv.id, query]);

  return (
    <aside class="panel" aria-label="Search messages">
      <header class="bar">
        <h3>Search</h3>
        <button type="button" class="icon" aria-label="Close search" onClick={onClose}>
          <Icon name="close" />
        </button>
      </header>
      <label>
        Search this chat
        <input type="search" value={query} autoFocus onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {results && (
        <ul class="results" aria-label="Search results">
          {results.length === 0 && <li class="hint">No messages match.</li>}
          {results.map((r) => (
            <li key={r.message.id}>
              <p class="sender">
                {r.message.sender?.username} · {timeOf(r.message.created_at)}
              </p>
              {/* natter escapes the text and marks the matches with <mark>: safe as element content. */}
              <p class="content" dangerouslySetInnerHTML={{ __html: r.highlight }} />
            </li>
          ))}
        </ul>
      )}
    </aside>
  );
}
