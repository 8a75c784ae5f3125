import { useEffect, useReducer, useState } from 'preact/hooks';
import type { ChatStore } from './store.js';

/** Re-renders the calling component whenever the store changes. */
export function useStore(store: ChatStore): ChatStore {
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((n) => n + 1)), [store]);
  return store;
}

/** The path the app shows (`/`, `/c/12`, `/settings`), kept in the address bar. */
export function useRoute(): [string, (to: string) => void] {
  const [path, setPath] = useReducer((_: string, next: string) => next, location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const go = (to: string) => {
    if (to !== location.pathname) history.pushState(null, '', to);
    setPath(to);
  };
  return [path, go];
}
