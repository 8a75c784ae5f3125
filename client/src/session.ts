import { NatterError } from './errors.js';

/** What a signed-in client holds. `expires_at` (ms since the epoch) is when the access token expires. */
export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_at?: number;
  /** The signed-in user as natter last described them (`Me`), so `restore()` works offline. */
  user?: unknown;
  /** The session's public device id (calls name devices by it). */
  device_id?: string;
}

/** Where tokens live between page loads or process runs. `save(null)` means signed out. */
export interface TokenStore {
  load(): Tokens | null | Promise<Tokens | null>;
  save(tokens: Tokens | null): void | Promise<void>;
}

/** Tokens in memory only: gone with the page or process. The default. */
export function memoryTokenStore(initial: Tokens | null = null): TokenStore {
  let held = initial;
  return {
    load: () => held,
    save: (tokens) => {
      held = tokens;
    },
  };
}

/** The part of the Web Storage API the token store uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Tokens in `localStorage` (browsers), under `key`, shared by the origin's tabs. A
 * `storage` with the same three methods (sessionStorage, say) may be given instead.
 */
export function localStorageTokenStore(key = 'natter.tokens', storage?: StorageLike): TokenStore {
  const store = () => {
    const s = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (!s) throw new Error('localStorageTokenStore: no localStorage here (pass a storage, or use memoryTokenStore)');
    return s;
  };
  return {
    load: () => {
      const raw = store().getItem(key);
      if (!raw) return null;
      try {
        const t = JSON.parse(raw) as Partial<Tokens>;
        return typeof t.access_token === 'string' && typeof t.refresh_token === 'string' ? (t as Tokens) : null;
      } catch {
        return null;
      }
    },
    save: (tokens) => (tokens ? store().setItem(key, JSON.stringify(tokens)) : store().removeItem(key)),
  };
}

/** A JWT's `iat` and `exp` claims in ms, or undefined for what is not a readable JWT. */
export function tokenTimes(jwt: string): { issuedAt?: number; expiresAt?: number } {
  const part = jwt.split('.')[1];
  if (!part) return {};
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))) as { iat?: unknown; exp?: unknown };
    return {
      issuedAt: typeof claims.iat === 'number' ? claims.iat * 1000 : undefined,
      expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined,
    };
  } catch {
    return {};
  }
}

/** A JWT's `sub` claim (natter: the user id), or undefined. */
export function tokenSubject(jwt: string): string | undefined {
  const part = jwt.split('.')[1];
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))) as { sub?: unknown };
    return typeof claims.sub === 'string' ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

/** What /auth/register, /auth/login and /auth/refresh answer. */
export interface AuthReply<U> {
  token: string;
  refresh_token: string;
  device_id?: string;
  user: U;
}

export const toTokens = (reply: { token: string; refresh_token: string; device_id?: string; user?: unknown }): Tokens => {
  const { expiresAt } = tokenTimes(reply.token);
  return {
    access_token: reply.token,
    refresh_token: reply.refresh_token,
    ...(expiresAt === undefined ? {} : { expires_at: expiresAt }),
    ...(reply.user === undefined ? {} : { user: reply.user }),
    ...(reply.device_id === undefined ? {} : { device_id: reply.device_id }),
  };
};

interface LockManagerLike {
  request<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * Refreshes in flight in this JavaScript realm, by refresh token: clients sharing a token
 * store (tabs in one process, tests, a Node program with two clients) spend a refresh
 * token once and share the answer (null: refused). Tabs of a browser are kept apart by
 * the Web Lock instead.
 */
const inflight = new Map<string, Promise<AuthReply<unknown> | null>>();

/** Lets a timer not keep a Node process alive (browsers have no such thing). */
export const unref = (timer: Timer): Timer => {
  (timer as { unref?: () => void }).unref?.();
  return timer;
};

/** Paths whose 401 is an answer about credentials, not about the access token. */
const CREDENTIAL_PATHS = ['/api/v1/auth/login', '/api/v1/auth/register', '/api/v1/auth/refresh'];

/**
 * The tokens of one client: kept in the token store, refreshed shortly before the access
 * token expires (a timer) and once when a request is answered 401, one refresh at a time
 * (a refresh token works once: reusing it ends the session). In browsers the refresh
 * runs under a Web Lock and first re-reads the store, so tabs sharing a store do not
 * spend the same refresh token twice.
 */
export class Session<U> {
  tokens: Tokens | null = null;
  private refreshing: Promise<boolean> | null = null;
  private timer: Timer | null = null;
  /** Bumped by every sign-in, restore and sign-out: a refresh begun before it does not apply its answer. */
  private epoch = 0;
  /** `close()` was called: no timer is armed again (until a new sign-in or restore). */
  private closed = false;

  constructor(
    private readonly baseUrl: string,
    private readonly fetchFn: typeof fetch,
    private readonly store: TokenStore,
    /** Called with the user of every auth answer, and null once signed out. */
    private readonly onUser: (user: U | null) => void,
  ) {}

  /** Adopts stored tokens (restore). */
  async load(): Promise<Tokens | null> {
    this.epoch++;
    this.closed = false;
    this.tokens = (await this.store.load()) ?? null;
    this.schedule();
    return this.tokens;
  }

  /** A sign-in (or sign-out): a refresh still in flight for the previous session is dropped. */
  async set(tokens: Tokens | null): Promise<void> {
    this.epoch++;
    this.closed = false;
    await this.adopt(tokens);
  }

  /** Keeps the user of the held tokens in the store too (a profile read), so a restore offline has them. */
  async setUser(user: unknown): Promise<void> {
    const t = this.tokens;
    if (!t) return;
    this.tokens = { ...t, user };
    const stored = (await this.store.load()) ?? null;
    if (stored?.refresh_token === t.refresh_token) await this.store.save({ ...stored, user });
  }

  private async adopt(tokens: Tokens | null): Promise<void> {
    this.tokens = tokens;
    this.schedule();
    await this.store.save(tokens);
  }

  /** Signed out: tokens dropped from memory and store, the user told. */
  async end(): Promise<void> {
    await this.set(null);
    this.onUser(null);
  }

  /**
   * Signed out here only: the store now belongs to someone else (another tab signed in as
   * another user, or out), so it is left as it is.
   */
  private endLocal(): void {
    this.epoch++;
    this.tokens = null;
    this.schedule();
    this.onUser(null);
  }

  close(): void {
    this.closed = true;
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** How long before expiry a token is refreshed: a quarter of its lifetime, at most a minute. */
  private margin(t: Tokens): number {
    const { issuedAt, expiresAt } = tokenTimes(t.access_token);
    const life = issuedAt !== undefined && expiresAt !== undefined ? expiresAt - issuedAt : 15 * 60_000;
    return Math.min(60_000, life / 4);
  }

  private fresh(t: Tokens): boolean {
    return t.expires_at === undefined || t.expires_at - Date.now() > this.margin(t);
  }

  private schedule(): void {
    this.clearTimer();
    const t = this.tokens;
    if (this.closed || !t || t.expires_at === undefined) return;
    const due = Math.max(0, t.expires_at - this.margin(t) - Date.now());
    this.timer = unref(
      setTimeout(() => {
        this.timer = null;
        // A failed attempt (offline) is tried again by the next request or reconnect.
        this.refresh(t.access_token).catch(() => {});
      }, due),
    );
  }

  /** A usable access token (refreshed first when it is about to expire), or null when signed out. */
  async accessToken(): Promise<string | null> {
    const t = this.tokens;
    if (!t) return null;
    if (this.fresh(t)) return t.access_token;
    await this.refresh(t.access_token);
    return this.tokens?.access_token ?? null;
  }

  /**
   * Exchanges the refresh token for a new pair, unless the token `stale` was already
   * replaced. True when a usable token is held afterwards; false when the session is
   * over (then signed out). Network failures throw and keep the tokens.
   */
  refresh(stale: string): Promise<boolean> {
    if (this.tokens && this.tokens.access_token !== stale) return Promise.resolve(true);
    this.refreshing ??= this.lockedRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private lockedRefresh(): Promise<boolean> {
    const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
    return locks ? locks.request(`natter-refresh ${this.baseUrl}`, () => this.doRefresh()) : this.doRefresh();
  }

  private async doRefresh(): Promise<boolean> {
    const epoch = this.epoch;
    const held = this.tokens;
    if (!held) return false;
    // Another tab (or client) sharing the store may have refreshed already, or signed in
    // as someone else, or out.
    const stored = (await this.store.load()) ?? null;
    if (epoch !== this.epoch) return false;
    let current = held;
    if (stored && stored.refresh_token !== held.refresh_token) {
      if (tokenSubject(stored.access_token) !== tokenSubject(held.access_token)) {
        // Another account's tokens: never this client's to use.
        this.endLocal();
        return false;
      }
      // Our session, refreshed elsewhere: held's refresh token is spent, take the stored pair.
      this.tokens = stored;
      this.schedule();
      if (this.fresh(stored)) return true;
      current = stored;
    }
    const spent = current.refresh_token;
    let answer = inflight.get(spent);
    if (!answer) {
      answer = this.exchange(spent).finally(() => inflight.delete(spent));
      inflight.set(spent, answer);
    }
    const reply = (await answer) as AuthReply<U> | null;
    // Signed out or in as someone else meanwhile: this answer is about a session that is gone.
    if (epoch !== this.epoch) return false;
    if (!reply) {
      const now = (await this.store.load()) ?? null;
      if (now && now.refresh_token !== spent) this.endLocal();
      else await this.end();
      return false;
    }
    await this.adopt(toTokens(reply));
    this.onUser(reply.user);
    return true;
  }

  /** POST /auth/refresh: the new pair, null when refused (the session is over), a throw when unanswered. */
  private async exchange(refreshToken: string): Promise<AuthReply<unknown> | null> {
    const res = await this.fetchFn(`${this.baseUrl}/api/v1/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    if (res.ok) return (await res.json()) as AuthReply<unknown>;
    if (res.status === 400 || res.status === 401) return null;
    throw NatterError.from(res.status, await res.json().catch(() => null));
  }

  /**
   * Runs `attempt` with the access token; on a 401 refreshes once and runs it again.
   * `attempt` must be repeatable (build a fresh request each time).
   */
  async withToken<R extends { status: number }>(attempt: (token: string | null) => Promise<R>): Promise<R> {
    const token = await this.accessToken();
    const first = await attempt(token);
    if (first.status !== 401 || !token) return first;
    if (!(await this.refresh(token))) return first;
    return attempt(this.tokens?.access_token ?? null);
  }

  /** `fetch` with the bearer token and the 401 refresh, for openapi-fetch and uploads. */
  readonly fetch = (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    if (CREDENTIAL_PATHS.includes(pathname)) return this.fetchFn(request);
    return this.withToken((token) => {
      const copy = request.clone();
      if (token) copy.headers.set('authorization', `Bearer ${token}`);
      return this.fetchFn(copy);
    });
  };
}
