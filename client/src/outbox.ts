/**
 * A message on its way: kept from `send` until its echo (the `new_message` carrying its
 * `client_id`) arrives, resent with the same `client_id` after every reconnect (natter
 * stores a `client_id` once, so a resend never duplicates), and kept in an OutboxStore so
 * it survives a page reload or a restart of the process.
 */
export interface OutboxEntry {
  client_id: string;
  conversation_id: number;
  content: string;
  /** `text`, `image`, … as given; `auto` with attachments and no type: the server takes the first attachment's kind. */
  message_type: string;
  reply_to_id?: number | null;
  attachment_ids?: number[];
  /** When it was sent (ms); strictly increasing per client, so it orders the outbox. */
  created_at: number;
  /** `failed`: refused by the server (see `error`, a natter error code); `retry` sends it again. */
  status: 'pending' | 'failed';
  error?: string;
  /** The sender: a client only sends its own user's entries. */
  user_id?: number;
}

export interface OutboxStore {
  load(): Promise<OutboxEntry[]>;
  put(entry: OutboxEntry): Promise<void>;
  delete(clientId: string): Promise<void>;
}

const copy = (e: OutboxEntry): OutboxEntry => structuredClone(e);

/**
 * Entries in memory. One store given to two clients one after the other (a test's
 * "reload") hands the second what the first left.
 */
export function memoryOutboxStore(): OutboxStore {
  const entries = new Map<string, OutboxEntry>();
  return {
    load: async () => [...entries.values()].map(copy),
    put: async (e) => void entries.set(e.client_id, copy(e)),
    delete: async (id) => void entries.delete(id),
  };
}

// The slice of IndexedDB the store uses, typed here so the SDK needs no DOM typings.
interface IdbRequest<T> {
  result: T;
  error: unknown;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null;
}
interface IdbObjectStore {
  put(value: unknown): IdbRequest<unknown>;
  delete(key: string): IdbRequest<unknown>;
  getAll(): IdbRequest<unknown[]>;
}
interface IdbTransaction {
  objectStore(name: string): IdbObjectStore;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  error: unknown;
}
interface IdbDatabase {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string, opts: { keyPath: string }): unknown;
  transaction(names: string, mode: 'readonly' | 'readwrite'): IdbTransaction;
}
/** `indexedDB` as browsers (or fake-indexeddb in Node) provide it. */
export interface IdbFactoryLike {
  open(name: string, version?: number): IdbOpenRequest;
}

const STORE = 'outbox';

const asError = (e: unknown) => (e instanceof Error ? e : new Error(String(e)));

/**
 * Entries in IndexedDB (browsers), database `dbName`, one object store keyed by
 * `client_id`. `factory` defaults to the global `indexedDB`.
 */
export function indexedDbOutboxStore(dbName = 'natter-outbox', factory?: IdbFactoryLike): OutboxStore {
  let opened: Promise<IdbDatabase> | null = null;
  const db = () =>
    (opened ??= new Promise<IdbDatabase>((resolve, reject) => {
      const idb = factory ?? (globalThis as { indexedDB?: IdbFactoryLike }).indexedDB;
      if (!idb) return reject(new Error('indexedDbOutboxStore: no indexedDB here (use memoryOutboxStore)'));
      const req = idb.open(dbName, 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE, { keyPath: 'client_id' });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(asError(req.error));
    }));
  const run = async <T>(mode: 'readonly' | 'readwrite', op: (s: IdbObjectStore) => IdbRequest<T>): Promise<T> => {
    const tx = (await db()).transaction(STORE, mode);
    const req = op(tx.objectStore(STORE));
    return new Promise<T>((resolve, reject) => {
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = tx.onabort = () => reject(asError(tx.error ?? req.error));
    });
  };
  return {
    load: async () => (await run('readonly', (s) => s.getAll())) as OutboxEntry[],
    put: async (e) => void (await run('readwrite', (s) => s.put(copy(e)))),
    delete: async (id) => void (await run('readwrite', (s) => s.delete(id))),
  };
}

/** Outbox order: by `created_at`, then `client_id` (stable for equal times from another client). */
export const outboxOrder = (a: OutboxEntry, b: OutboxEntry) =>
  a.created_at - b.created_at || (a.client_id < b.client_id ? -1 : a.client_id > b.client_id ? 1 : 0);
