import { Redis } from 'ioredis';
import type { BusLogger } from '../bus/remote.js';
import { MAX_CALL_MS, type CallState } from '../domain/calls.js';
import { ENDED_RETENTION_MS, type CallPatch, type CallStore, type LiveCall, type TransitionResult } from './call-store.js';
import { busyDevices, CALL_FIELDS, IMMUTABLE_FIELDS } from './fields.js';

export interface RedisCallStoreOptions {
  url: string;
  /** Key prefix shared by every node of one deployment. */
  prefix: string;
}

/** How long a live call's keys outlive its deadline, when no node is left to end it (ms). */
export const CALL_KEY_MARGIN_MS = 5 * 60_000;

// Every script gets ARGV[1] = the key prefix of calls ('<prefix>{call}:'). A call is a hash
// (c:<id>) whose fields are its LiveCall fields, each as JSON written by Node: the scripts
// compare and copy those strings and never encode a number, so ms timestamps and ids come
// back exactly. Pointers: conv:<conversation> and dev:<device> → the live call's id;
// u:<user> the user's live calls; due a sorted set of live calls by deadline; unpushed
// a sorted set of ringing calls whose ring push was claimed but not sent, by claim.
const PRELUDE = `
local P = ARGV[1]
local ENDED = '"ended"'
local function callKey(id) return P .. 'c:' .. id end
local function isLive(id)
  local st = redis.call('HGET', callKey(id), 'state')
  return st and st ~= ENDED
end
-- A key shared by several calls lives as long as the longest of them.
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
-- A ringing call whose ring push was not sent yet (pushedDevices null).
local function unpushed(h)
  local pushed = redis.call('HGET', h, 'pushedDevices')
  return redis.call('HGET', h, 'state') == '"ringing"' and (not pushed or pushed == 'null')
end
-- A JSON string field as a Lua string; nil for null or missing.
local function str(json)
  if not json then return nil end
  local v = cjson.decode(json)
  if type(v) == 'string' then return v end
  return nil
end
`;

// KEYS: 1 call. ARGV: 2 id, 3 conversation, 4 caller device, 5 caller, 6 callee, 7 ttl ms,
// 8 deadline ('' none), 9.. field, value pairs.
// Returns {'created'}, {'taken'}, or {'live' | 'busy', the other call's fields}.
const CREATE = `${PRELUDE}
local id = ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 1 then return {'taken'} end
local convKey = P .. 'conv:' .. ARGV[3]
local devKey = P .. 'dev:' .. ARGV[4]
local other = redis.call('GET', convKey)
if other and isLive(other) then return {'live', redis.call('HGETALL', callKey(other))} end
other = redis.call('GET', devKey)
if other and isLive(other) then return {'busy', redis.call('HGETALL', callKey(other))} end
local ttl = tonumber(ARGV[7])
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', convKey, id, 'PX', ttl)
redis.call('SET', devKey, id, 'PX', ttl)
for _, user in ipairs({ARGV[5], ARGV[6]}) do
  local key = P .. 'u:' .. user
  redis.call('SADD', key, id)
  extend(key, ttl)
end
if ARGV[8] ~= '' then
  redis.call('ZADD', P .. 'due', ARGV[8], id)
  extend(P .. 'due', ttl)
end
return {'created'}`;

// KEYS: 1 call. ARGV: 2 id, 3 now ms, 4 key margin ms, 5 retention ms, 6 lifetime of a call
// without deadline ms, 7 number n of from-states, 8..7+n the states (JSON), then field,
// value pairs. Returns nil (no such call), {0, fields} (not in a from-state), {1, fields}.
const TRANSITION = `${PRELUDE}
local h = KEYS[1]
local id = ARGV[2]
local st = redis.call('HGET', h, 'state')
if not st then return false end
local n = tonumber(ARGV[7])
local expected = false
for i = 8, 7 + n do if ARGV[i] == st then expected = true end end
if not expected then return {0, redis.call('HGETALL', h)} end
local patch = {}
for i = 8 + n, #ARGV, 2 do patch[ARGV[i]] = ARGV[i + 1] end
local function write()
  local args = {}
  for k, v in pairs(patch) do args[#args + 1] = k; args[#args + 1] = v end
  if #args > 0 then redis.call('HSET', h, unpack(args)) end
end
if st == ENDED then
  if patch.state and patch.state ~= ENDED then return redis.error_reply('an ended call stays ended') end
  write()
  return {1, redis.call('HGETALL', h)}
end
local ending = patch.state == ENDED
if ending then patch.deadline = 'null' end
local oldSelected = str(redis.call('HGET', h, 'selectedDevice'))
write()
local function release(key) if redis.call('GET', key) == id then redis.call('DEL', key) end end
local convKey = P .. 'conv:' .. redis.call('HGET', h, 'conversationId')
local callerKey = P .. 'dev:' .. str(redis.call('HGET', h, 'callerDevice'))
local users = {P .. 'u:' .. redis.call('HGET', h, 'callerId'), P .. 'u:' .. redis.call('HGET', h, 'calleeId')}
local selected = str(redis.call('HGET', h, 'selectedDevice'))
if oldSelected and oldSelected ~= selected then release(P .. 'dev:' .. oldSelected) end
if ending then
  release(convKey)
  release(callerKey)
  if selected then release(P .. 'dev:' .. selected) end
  for _, key in ipairs(users) do redis.call('SREM', key, id) end
  redis.call('ZREM', P .. 'due', id)
  redis.call('ZREM', P .. 'unpushed', id)
  redis.call('PEXPIRE', h, ARGV[5])
  return {1, redis.call('HGETALL', h)}
end
local now = tonumber(ARGV[3])
local deadline = redis.call('HGET', h, 'deadline')
local untilMs = now + tonumber(ARGV[6])
if deadline and deadline ~= 'null' then untilMs = tonumber(deadline) end
local ttl = math.floor(math.max(untilMs - now, 0) + tonumber(ARGV[4]))
if patch.deadline then
  if patch.deadline == 'null' then redis.call('ZREM', P .. 'due', id) else redis.call('ZADD', P .. 'due', patch.deadline, id) end
end
redis.call('PEXPIRE', h, ttl)
for _, key in ipairs({convKey, callerKey}) do
  if redis.call('GET', key) == id then redis.call('PEXPIRE', key, ttl) end
end
if selected then
  local key = P .. 'dev:' .. selected
  if patch.selectedDevice or redis.call('GET', key) == id then redis.call('SET', key, id, 'PX', ttl) end
end
for _, key in ipairs(users) do extend(key, ttl) end
extend(P .. 'due', ttl)
extend(P .. 'unpushed', ttl)
return {1, redis.call('HGETALL', h)}`;

// KEYS: 1 call. ARGV: 2 list field, 3 device. Returns the call's fields, or nil unless it rings.
const ADD_DEVICE = `${PRELUDE}
if redis.call('HGET', KEYS[1], 'state') ~= '"ringing"' then return false end
local list = cjson.decode(redis.call('HGET', KEYS[1], ARGV[2]) or '[]')
for _, d in ipairs(list) do
  if d == ARGV[3] then return redis.call('HGETALL', KEYS[1]) end
end
list[#list + 1] = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(list))
return redis.call('HGETALL', KEYS[1])`;

// KEYS: 1 user's call set. Returns the fields of each live call; drops ended and expired ones.
const LIVE_FOR = `${PRELUDE}
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if isLive(id) then out[#out + 1] = redis.call('HGETALL', callKey(id)) else redis.call('SREM', KEYS[1], id) end
end
return out`;

// KEYS: 1 due set. ARGV: 2 now ms. Returns the ids of live calls due; drops ended and expired ones.
const DUE = `${PRELUDE}
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])) do
  if isLive(id) then out[#out + 1] = id else redis.call('ZREM', KEYS[1], id) end
end
return out`;

// KEYS: 1 call. ARGV: 2 id, 3 now ms, 4 lease ms, 5 the claim held (JSON; '' none).
// Returns the call's fields once claimed (the claim listed in unpushed), or nil.
const CLAIM_PUSH = `${PRELUDE}
local h = KEYS[1]
if not unpushed(h) then
  redis.call('ZREM', P .. 'unpushed', ARGV[2])
  return false
end
local claimed = redis.call('HGET', h, 'pushClaimedAt')
if claimed == 'null' then claimed = false end
if ARGV[5] ~= '' then
  if claimed ~= ARGV[5] then return false end
elseif claimed and tonumber(claimed) + tonumber(ARGV[4]) > tonumber(ARGV[3]) then
  return false
end
redis.call('HSET', h, 'pushClaimedAt', ARGV[3])
redis.call('ZADD', P .. 'unpushed', ARGV[3], ARGV[2])
extend(P .. 'unpushed', redis.call('PTTL', h))
return redis.call('HGETALL', h)`;

// KEYS: 1 unpushed set. ARGV: 2 latest claim ms. Returns the ids of ringing calls not
// pushed yet whose last claim is that old; drops those pushed, answered or ended.
const UNPUSHED = `${PRELUDE}
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])) do
  if unpushed(callKey(id)) then out[#out + 1] = id else redis.call('ZREM', KEYS[1], id) end
end
return out`;

const SCRIPTS = {
  natterCallCreate: CREATE,
  natterCallTransition: TRANSITION,
  natterCallAddDevice: ADD_DEVICE,
  natterCallLiveFor: LIVE_FOR,
  natterCallDue: DUE,
  natterCallClaimPush: CLAIM_PUSH,
  natterCallUnpushed: UNPUSHED,
} as const;

/**
 * Calls in Redis, shared by every node of a deployment. Each operation is one Lua script,
 * so a transition is a compare-and-set on the call's state however many nodes race, and
 * making a call live claims its conversation and caller device in the same step. Every
 * key expires `CALL_KEY_MARGIN_MS` after the call's deadline (renewed by each transition),
 * an ended call `ENDED_RETENTION_MS` after it ended. All keys share one hash tag
 * (`<prefix>{call}:`): the scripts touch several, which Redis Cluster allows in one slot.
 */
export class RedisCallStore implements CallStore {
  private readonly redis: Redis;
  private readonly base: string;

  constructor(
    opts: RedisCallStoreOptions,
    private readonly log: BusLogger,
  ) {
    this.base = `${opts.prefix}{call}:`;
    this.redis = new Redis(opts.url, {
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    });
    this.redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis call store connection error'));
    for (const [name, lua] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { numberOfKeys: 1, lua });
  }

  async create(call: LiveCall): ReturnType<CallStore['create']> {
    const now = Date.now();
    const reply = await this.run<[string, string[]?]>(
      'natterCallCreate',
      this.callKey(call.id),
      call.id,
      JSON.stringify(call.conversationId),
      call.callerDevice,
      JSON.stringify(call.callerId),
      JSON.stringify(call.calleeId),
      String(this.ttl(call.deadline, now)),
      call.deadline === null ? '' : String(call.deadline),
      ...encode(call, CALL_FIELDS),
    );
    if (reply[0] === 'created') return { created: true };
    if (reply[0] === 'taken') return { created: false, why: 'taken' };
    const live = decode(reply[1]);
    // The other call expired between the script's check and its read: cannot happen in one script.
    if (!live) throw new Error('call store: a live call without fields');
    return { created: false, why: reply[0] as 'live' | 'busy', live };
  }

  async get(id: string): Promise<LiveCall | undefined> {
    return decode(await this.redis.hgetall(this.callKey(id)));
  }

  async transition(id: string, from: readonly CallState[], patch: CallPatch): Promise<TransitionResult> {
    const reply = await this.run<[0 | 1, string[]] | null>(
      'natterCallTransition',
      this.callKey(id),
      id,
      String(Date.now()),
      String(CALL_KEY_MARGIN_MS),
      String(ENDED_RETENTION_MS),
      String(MAX_CALL_MS),
      String(from.length),
      ...from.map((state) => JSON.stringify(state)),
      ...encode(patch, MUTABLE_FIELDS),
    );
    if (reply === null) return { ok: false, call: undefined };
    const call = decode(reply[1]);
    return reply[0] === 1 && call ? { ok: true, call } : { ok: false, call };
  }

  async addDevice(id: string, list: 'ringingDevices' | 'busyDevices', device: string): Promise<LiveCall | undefined> {
    return decode(await this.run<string[] | null>('natterCallAddDevice', this.callKey(id), list, device));
  }

  async liveFor(userId: number): Promise<LiveCall[]> {
    const replies = await this.run<string[][]>('natterCallLiveFor', this.key('u', String(userId)));
    return replies.map(decode).filter((call): call is LiveCall => call !== undefined);
  }

  async busyDevicesOf(userId: number): Promise<string[]> {
    return busyDevices(await this.liveFor(userId), userId);
  }

  async due(now: number): Promise<string[]> {
    return this.run<string[]>('natterCallDue', this.key('due'), String(now));
  }

  async claimPush(id: string, now: number, leaseMs: number, held?: number): Promise<LiveCall | undefined> {
    const reply = await this.run<string[] | null>(
      'natterCallClaimPush',
      this.callKey(id),
      id,
      JSON.stringify(now),
      String(leaseMs),
      held === undefined ? '' : JSON.stringify(held),
    );
    return decode(reply);
  }

  async unpushed(claimedBy: number): Promise<string[]> {
    return this.run<string[]>('natterCallUnpushed', this.key('unpushed'), String(claimedBy));
  }

  isReady(): boolean {
    return this.redis.status === 'ready';
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private key(...parts: string[]): string {
    return `${this.base}${parts.join(':')}`;
  }

  private callKey(id: string): string {
    return this.key('c', id);
  }

  /** How long a live call's keys last: past its deadline (or the longest call) by the margin. */
  private ttl(deadline: number | null, now: number): number {
    return Math.max((deadline ?? now + MAX_CALL_MS) - now, 0) + CALL_KEY_MARGIN_MS;
  }

  private run<T>(name: keyof typeof SCRIPTS, key: string, ...args: string[]): Promise<T> {
    const command = (this.redis as unknown as Record<string, (...a: string[]) => Promise<T>>)[name]!;
    return command.call(this.redis, key, this.base, ...args).catch((err: Error) => {
      this.log.warn({ err: err.message, op: name }, 'call store operation failed');
      throw err;
    });
  }
}

const MUTABLE_FIELDS = CALL_FIELDS.filter((f) => !(IMMUTABLE_FIELDS as readonly string[]).includes(f));

/** Field, JSON value pairs of the fields given (undefined ones left out). */
function encode(from: Partial<LiveCall>, fields: readonly (keyof LiveCall)[]): string[] {
  const out: string[] = [];
  for (const field of fields) {
    const value = from[field];
    if (value !== undefined) out.push(field, JSON.stringify(value));
  }
  return out;
}

/** A call from its hash (a flat field, value list, or HGETALL's object); undefined when empty. */
function decode(fields: string[] | Record<string, string> | null | undefined): LiveCall | undefined {
  if (!fields) return undefined;
  const entries: [string, string][] = [];
  if (Array.isArray(fields)) for (let i = 0; i + 1 < fields.length; i += 2) entries.push([fields[i]!, fields[i + 1]!]);
  else entries.push(...Object.entries(fields));
  if (entries.length === 0) return undefined;
  const call: Record<string, unknown> = {};
  for (const [field, json] of entries) call[field] = JSON.parse(json);
  return call as unknown as LiveCall;
}
