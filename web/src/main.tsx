import { indexedDbOutboxStore, localStorageTokenStore, NatterClient } from '@natter/client';
import { render } from 'preact';
import { App } from './App.js';
import './styles.css';

// The app is served by natter itself, so the API is on this page's own origin. The
// session survives a reload (tokens in localStorage), and so do unsent messages (the
// outbox in IndexedDB).
const client = new NatterClient({
  baseUrl: location.origin,
  tokenStore: localStorageTokenStore('natter.tokens'),
  outboxStore: indexedDbOutboxStore('natter-outbox'),
});

render(<App client={client} />, document.getElementById('app')!);
