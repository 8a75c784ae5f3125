/**
 * The REST calls of the seed's wire contract the scenarios need (register, conversations,
 * history) — nothing natter-specific, so --target works against any compatible server.
 */
import { createHash } from 'node:crypto';

export interface BenchUser {
  id: number;
  token: string;
  username: string;
}

export class TargetError extends Error {}

export async function request<T>(base: string, method: string, path: string, body?: unknown, token?: string, timeoutMs = 30_000): Promise<{ status: number; json: T }> {
  let res: Response;
  try {
    res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new TargetError(`cannot reach ${base} (${method} /api/v1${path}): ${cause}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new TargetError(`${method} ${path}: ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, json: json as T };
}

/** Waits until the target answers HTTP at all (any status), or fails with a clear message. */
export async function waitReachable(base: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      await fetch(`${base}/api/v1/users/me`, { signal: AbortSignal.timeout(2000) });
      return;
    } catch (err) {
      last = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new TargetError(`target ${base} is unreachable (${last}); start a server there or use --spawn`);
}

/**
 * A phone number unique to the user name: the seed's Go server refuses a registration
 * without a `phone` no other user has. natter takes the field too (optional, not unique),
 * so every target gets one and the request is the same everywhere.
 */
export function phoneFor(username: string): string {
  const digits = createHash('sha256').update(username).digest().readBigUInt64BE() % 10n ** 14n;
  return `+1${digits.toString().padStart(14, '0')}`;
}

export async function register(base: string, username: string): Promise<BenchUser> {
  const { status, json } = await request<{ token?: string; user?: { id: number }; error?: string }>(base, 'POST', '/auth/register', {
    username,
    email: `${username}@bench.invalid`,
    password: 'bench-password-1234',
    phone: phoneFor(username),
  });
  if ((status !== 200 && status !== 201) || !json.token || !json.user) {
    throw new TargetError(`register ${username}: HTTP ${status} ${JSON.stringify(json).slice(0, 200)}`);
  }
  return { id: Number(json.user.id), token: json.token, username };
}

/** Registers `count` users with bounded concurrency; names (`<prefix><first + i>`) are unique per run. */
export async function registerMany(base: string, count: number, prefix: string, concurrency = 8, first = 0): Promise<BenchUser[]> {
  const users = new Array<BenchUser>(count);
  let next = 0;
  const t0 = Date.now();
  let lastLog = t0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      users[i] = await register(base, `${prefix}${first + i}`);
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        console.log(`  registered ${i + 1}/${count} users…`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return users;
}

/**
 * Users registered once on one server and handed out again to every scenario run against
 * it. For a target whose registration is slow on purpose — the seed's Go server hashes
 * with bcrypt cost 14, ~1.2 s a user — registering 1,000 users per scenario would take
 * longer than the measurements; with the pool a comparison registers the most any one
 * scenario needs, once.
 */
export class UserPool {
  private users: BenchUser[] = [];
  constructor(
    private readonly base: string,
    private readonly prefix: string,
    private readonly concurrency: number,
  ) {}

  /** The first `count` users of the pool, registering only those it does not hold yet. */
  async take(count: number): Promise<BenchUser[]> {
    if (count > this.users.length) {
      const missing = count - this.users.length;
      console.log(`registering ${missing} more users on ${this.base} (${this.users.length} reused)…`);
      this.users.push(...(await registerMany(this.base, missing, this.prefix, this.concurrency, this.users.length)));
    }
    return this.users.slice(0, count);
  }
}

export async function createDirect(base: string, a: BenchUser, b: BenchUser): Promise<number> {
  const { status, json } = await request<{ conversation?: { id: number } }>(base, 'POST', '/conversations', { type: 'direct', participant_id: b.id }, a.token);
  if (!json.conversation) throw new TargetError(`create direct conversation: HTTP ${status} ${JSON.stringify(json).slice(0, 200)}`);
  return Number(json.conversation.id);
}

export async function createGroup(base: string, owner: BenchUser, members: BenchUser[], name: string): Promise<number> {
  const { status, json } = await request<{ conversation?: { id: number } }>(
    base,
    'POST',
    '/conversations',
    { type: 'group', name, participant_ids: members.map((m) => m.id) },
    owner.token,
  );
  if (!json.conversation) throw new TargetError(`create group: HTTP ${status} ${JSON.stringify(json).slice(0, 200)}`);
  return Number(json.conversation.id);
}

/** Runs fn over items with bounded concurrency. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

export const randomTag = (): string => Math.random().toString(36).slice(2, 8);
