import type { Attachment, Conversation, Message } from '@natter/client';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { bytes } from '../format.js';
import type { ChatStore } from '../store.js';
import { Icon } from './Icon.js';

export type Draft = { kind: 'new' } | { kind: 'reply'; to: Message } | { kind: 'edit'; message: Message };

interface Upload {
  file: File;
  preview: string | null;
  sent: number;
  total: number;
  attachment: Attachment | null;
  error: string | null;
  abort: AbortController;
}

/**
 * The message box: Enter sends (Shift+Enter breaks the line), typing is told to the
 * others while it has text, a reply or an edit is shown above it, and attachments upload
 * as soon as they are picked, with their progress, then go with the next send.
 */
export function Composer({ store, conv, draft, onDraft }: { store: ChatStore; conv: Conversation; draft: Draft; onDraft: (d: Draft) => void }) {
  const [text, setText] = useState('');
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const files = useRef<HTMLInputElement>(null);

  // Before the browser paints (and so before anyone types): the text to edit is in the box.
  useLayoutEffect(() => {
    if (draft.kind === 'edit') setText(draft.message.content);
    if (draft.kind !== 'new') box.current?.focus();
  }, [draft]);

  useEffect(() => () => store.client.stopTyping(conv.id), [store, conv.id]);

  const update = (u: Upload, patch: Partial<Upload>) =>
    setUploads((all) => all.map((x) => (x === u ? Object.assign(u, patch) : x)));

  const pick = (list: FileList | null) => {
    if (!list) return;
    for (const file of Array.from(list)) {
      const u: Upload = {
        file,
        preview: file.type.startsWith('image/') ? URL.createObjectURL(file) : null,
        sent: 0,
        total: file.size,
        attachment: null,
        error: null,
        abort: new AbortController(),
      };
      setUploads((all) => [...all, u]);
      store.client
        .upload(file, {
          conversationId: conv.id,
          filename: file.name,
          signal: u.abort.signal,
          onProgress: (sent, total) => update(u, { sent, total }),
        })
        .then(
          (attachment) => update(u, { attachment, sent: u.total }),
          (err: unknown) => update(u, { error: err instanceof Error ? err.message : 'Upload failed' }),
        );
    }
    if (files.current) files.current.value = '';
  };

  const remove = (u: Upload) => {
    u.abort.abort();
    if (u.preview) URL.revokeObjectURL(u.preview);
    setUploads((all) => all.filter((x) => x !== u));
  };

  const uploading = uploads.some((u) => !u.attachment && !u.error);
  const ready = uploads.filter((u) => u.attachment);

  const send = async () => {
    const content = text.trim();
    setError(null);
    if (draft.kind === 'edit') {
      if (!content || content === draft.message.content) return onDraft({ kind: 'new' });
      try {
        await store.client.edit(conv.id, draft.message.id, content);
        setText('');
        onDraft({ kind: 'new' });
      } catch (err) {
        setError(err instanceof Error ? err.message : 'Could not edit');
      }
      return;
    }
    if (uploading || (!content && ready.length === 0)) return;
    const attachmentIds = ready.map((u) => u.attachment!.id);
    store.client.send(conv.id, {
      content,
      ...(draft.kind === 'reply' ? { reply_to_id: draft.to.id } : {}),
      ...(attachmentIds.length ? { attachment_ids: attachmentIds } : {}),
    });
    store.client.stopTyping(conv.id);
    for (const u of ready) if (u.preview) URL.revokeObjectURL(u.preview);
    setUploads((all) => all.filter((u) => !u.attachment));
    setText('');
    onDraft({ kind: 'new' });
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void send();
    } else if (e.key === 'Escape' && draft.kind !== 'new') {
      if (draft.kind === 'edit') setText('');
      onDraft({ kind: 'new' });
    }
  };

  const onInput = (value: string) => {
    setText(value);
    if (draft.kind === 'edit') return;
    if (value.trim()) store.client.typing(conv.id);
    else store.client.stopTyping(conv.id);
  };

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      {draft.kind !== 'new' && (
        <div class="draft-context">
          <span>
            {draft.kind === 'reply' ? (
              <>
                Replying to <strong>{draft.to.sender?.username}</strong>: {draft.to.content || 'attachment'}
              </>
            ) : (
              'Editing message'
            )}
          </span>
          <button
            type="button"
            class="icon small"
            aria-label={draft.kind === 'reply' ? 'Cancel reply' : 'Cancel edit'}
            onClick={() => {
              if (draft.kind === 'edit') setText('');
              onDraft({ kind: 'new' });
            }}
          >
            <Icon name="close" size={16} />
          </button>
        </div>
      )}
      {uploads.length > 0 && (
        <ul class="uploads" aria-label="Attachments to send">
          {uploads.map((u) => (
            <li key={u.preview ?? u.file.name} class="upload">
              {u.preview ? <img src={u.preview} alt={`Preview of ${u.file.name}`} /> : <span class="file-icon"><Icon name="file" /></span>}
              <span class="upload-name">
                {u.file.name} <span class="size">{bytes(u.file.size)}</span>
              </span>
              {u.error ? (
                <span class="error" role="alert">{u.error}</span>
              ) : u.attachment ? (
                <span class="hint">Ready</span>
              ) : (
                <progress max={u.total || 1} value={u.sent} aria-label={`Uploading ${u.file.name}`} />
              )}
              <button type="button" class="icon small" aria-label={`Remove ${u.file.name}`} onClick={() => remove(u)}>
                <Icon name="close" size={16} />
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="composer-row">
        <label class="icon attach" title="Attach files">
          <Icon name="attach" />
          <span class="sr-only">Attach files</span>
          <input ref={files} type="file" multiple class="sr-only" onChange={(e) => pick((e.currentTarget as HTMLInputElement).files)} />
        </label>
        <textarea
          ref={box}
          rows={1}
          aria-label="Message"
          placeholder={draft.kind === 'edit' ? 'Edit your message' : 'Message'}
          value={text}
          onInput={(e) => onInput((e.currentTarget as HTMLTextAreaElement).value)}
          onKeyDown={onKeyDown}
        />
        <button type="submit" class="primary send" disabled={uploading} aria-label={draft.kind === 'edit' ? 'Save edit' : 'Send'}>
          {draft.kind === 'edit' ? 'Save' : 'Send'}
        </button>
      </div>
    </form>
  );
}
