import type { NatterClient } from '@natter/client';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { CallScreen } from './components/CallScreen.js';
import { ChatView } from './components/ChatView.js';
import { ConversationList } from './components/ConversationList.js';
import { Login } from './components/Login.js';
import { NewChat } from './components/NewChat.js';
import { Settings } from './components/Settings.js';
import { useRoute, useStore } from './hooks.js';
import { ChatStore } from './store.js';

type Phase = 'restoring' | 'unreachable' | 'signed-out' | 'signed-in';

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;

export function App({ client }: { client: NatterClient }) {
  const [phase, setPhase] = useState<Phase>('restoring');

  // restore() answers null only for a session natter refused (or none stored), and signs in
  // from the stored user when natter is out of reach. What still fails (natter unreachable
  // and no user kept yet) is not a sign-out: try again with backoff, and at once when the
  // browser is back online.
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let delay = RETRY_FIRST_MS;
    const attempt = () => {
      clearTimeout(timer);
      timer = undefined;
      client.restore().then(
        (user) => {
          if (!stopped) setPhase(user ? 'signed-in' : 'signed-out');
        },
        () => {
          if (stopped) return;
          setPhase('unreachable');
          timer = setTimeout(attempt, delay);
          delay = Math.min(delay * 2, RETRY_MAX_MS);
        },
      );
    };
    const online = () => {
      delay = RETRY_FIRST_MS;
      if (timer !== undefined) attempt();
    };
    window.addEventListener('online', online);
    attempt();
    return () => {
      stopped = true;
      clearTimeout(timer);
      window.removeEventListener('online', online);
    };
  }, [client]);

  if (phase === 'restoring') return <p class="splash" role="status">Loading…</p>;
  if (phase === 'unreachable') {
    return (
      <p class="splash" role="status">
        {navigator.onLine ? 'Cannot reach the server.' : 'You are offline.'} Retrying…
      </p>
    );
  }
  if (phase === 'signed-out') return <Login client={client} onSignedIn={() => setPhase('signed-in')} />;
  return <Chat client={client} onSignedOut={() => setPhase('signed-out')} />;
}

function Chat({ client, onSignedOut }: { client: NatterClient; onSignedOut: () => void }) {
  const store = useMemo(() => new ChatStore(client), [client]);
  useStore(store);
  const [path, go] = useRoute();
  const [dialog, setDialog] = useState<'new' | 'settings' | null>(null);

  useEffect(() => {
    void store.start();
    return () => store.stop();
  }, [store]);

  const match = /^\/c\/(\d+)$/.exec(path);
  const openId = match ? Number(match[1]) : null;
  useEffect(() => store.open(openId), [store, openId]);
  // A call screen goes over everything: a dialog open under it (a modal <dialog> sits in
  // the browser's top layer, above any other screen) would hold the focus and the keys.
  const inCall = store.calls.incoming !== null || store.calls.current !== null;
  useEffect(() => {
    if (inCall) setDialog(null);
  }, [inCall]);

  const signOut = async () => {
    store.stop();
    await client.logout().catch(() => undefined);
    go('/');
    onSignedOut();
  };

  return (
    <div class={`shell ${openId === null ? 'list-open' : 'chat-open'}`}>
      {!store.online && (
        <p class="offline-banner" role="status">
          {store.browserOnline ? 'Connecting…' : 'You are offline. Messages you send will go out when you are back.'}
        </p>
      )}
      <ConversationList
        store={store}
        openId={openId}
        onOpen={(id) => go(`/c/${id}`)}
        onNew={() => setDialog('new')}
        onSettings={() => setDialog('settings')}
      />
      <main class="pane" aria-label="Chat">
        {openId !== null ? (
          <ChatView key={openId} store={store} conversationId={openId} onBack={() => go('/')} onLeft={() => go('/')} />
        ) : (
          <div class="empty">
            <p>Pick a conversation, or start a new one.</p>
          </div>
        )}
      </main>
      {dialog === 'new' && (
        <NewChat
          store={store}
          onClose={() => setDialog(null)}
          onCreated={(id) => {
            setDialog(null);
            go(`/c/${id}`);
          }}
        />
      )}
      <CallScreen store={store} />
      {dialog === 'settings' && <Settings store={store} onClose={() => setDialog(null)} onSignOut={() => void signOut()} />}
    </div>
  );
}
