import { sql } from 'kysely';
import type { PushPlatform, WebPushSubscription } from '../domain/devices.js';
import type { Db, Trx } from './database.js';
import { notSeenCall } from './calls.repository.js';

/**
 * push_outbox: one row per (conversation, device) with messages waiting to be pushed.
 * Written in the message's own transaction (`enqueuePushes`); claimed, sent and settled
 * by the push worker (services/push.ts) on any node.
 */

/** A committed message, as the outbox needs it. */
export interface PushableMessage {
  conversationId: number;
  seq: number;
  senderId: number;
}

/**
 * Writes, in the transaction committing `messages`, a row for every device — of a
 * platform natter can push to, of a live session — of every other member who has not
 * muted the conversation at `now`. A device already waiting for the conversation keeps
 * its row (and its due time: one notification per PUSH_DELAY window); its last_seq moves
 * up. Messages of one conversation in the batch are one row per device.
 */
export async function enqueuePushes(
  trx: Trx,
  messages: PushableMessage[],
  opts: { now: Date; dueAt: Date; platforms: PushPlatform[] },
): Promise<void> {
  if (messages.length === 0 || opts.platforms.length === 0) return;
  // Laterals keyed by conversation and by user, fenced with `offset 0` so the planner does
  // not fold them back into joins: a generic plan (prepared statements) then cannot pick a
  // hash join over the whole participants or devices table.
  await sql`
    insert into push_outbox (conversation_id, device_id, user_id, first_seq, last_seq, due_at)
    select v.conversation_id, d.id, p.user_id, min(v.seq), max(v.seq), ${opts.dueAt}
      from unnest(${messages.map((m) => m.conversationId)}::bigint[], ${messages.map((m) => m.seq)}::bigint[],
                  ${messages.map((m) => m.senderId)}::bigint[]) as v(conversation_id, seq, sender_id)
     cross join lateral (
       select p0.user_id from conversation_participants p0
        where p0.conversation_id = v.conversation_id and p0.user_id <> v.sender_id
          and (p0.muted_until is null or p0.muted_until <= ${opts.now})
       offset 0) p
     cross join lateral (
       select d0.id from push_devices d0
         join sessions s on s.id = d0.session_id and s.revoked_at is null and s.expires_at > ${opts.now}
        where d0.user_id = p.user_id and d0.platform = any(${opts.platforms}::text[])
       offset 0) d
     group by v.conversation_id, d.id, p.user_id
     -- Rows are locked in key order, as the worker's settling locks them: no deadlock.
     order by v.conversation_id, d.id
        on conflict (conversation_id, device_id)
        do update set last_seq = greatest(push_outbox.last_seq, excluded.last_seq)`.execute(trx);
}

export interface ClaimedPush {
  conversation_id: number;
  device_id: number;
  user_id: number;
  first_seq: number;
  last_seq: number;
  /** Including this one. */
  attempts: number;
}

/**
 * Claims up to `limit` rows due at `now` for the worker batch `claim`: they become due
 * again only at `leaseUntil` (if the worker dies), and no other worker, on any node,
 * claims them meanwhile (SKIP LOCKED passes over rows being claimed right now).
 */
export async function claimDue(
  db: Db,
  opts: { now: Date; leaseUntil: Date; limit: number; claim: string },
): Promise<ClaimedPush[]> {
  // The locked rows are updated by their ctid (an InitPlan, then a TID scan): no join back
  // to the outbox for the planner to get wrong. As a join to a subquery in FROM, a generic
  // plan made from an empty outbox's statistics put the locking subquery on the inner
  // side of a nested loop and ran it again for every outbox row: 39 s for a 10,000-row
  // fan-out, and every row claimed at once instead of `limit`.
  const { rows } = await sql<ClaimedPush>`
    update push_outbox o
       set due_at = ${opts.leaseUntil}, claim = ${opts.claim}, attempts = o.attempts + 1
     where o.ctid = any(array(
             select ctid from push_outbox
              where due_at <= ${opts.now}
              order by due_at
              limit ${opts.limit}
                for update skip locked))
    returning o.conversation_id, o.device_id, o.user_id, o.first_seq, o.last_seq, o.attempts`.execute(db);
  return rows.map((r) => ({ ...r, conversation_id: Number(r.conversation_id), device_id: Number(r.device_id), user_id: Number(r.user_id), first_seq: Number(r.first_seq), last_seq: Number(r.last_seq) }));
}

export interface PushDevice {
  id: number;
  user_id: number;
  platform: PushPlatform;
  token: string | null;
  subscription: WebPushSubscription | null;
  locale: string | null;
}

/** The devices among `ids` whose session is live at `now`. */
export async function liveDevices(db: Db, ids: number[], now: Date): Promise<PushDevice[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('push_devices as d')
    .innerJoin('sessions as s', 's.id', 'd.session_id')
    .select(['d.id', 'd.user_id', 'd.platform', 'd.token', 'd.subscription', 'd.locale'])
    .where('d.id', 'in', ids)
    .where('s.revoked_at', 'is', null)
    .where('s.expires_at', '>', now)
    .execute();
}

/**
 * The devices a call from `callerId` rings for `userId`: theirs, of a platform among
 * `platforms`, on a session live at `now` whose public device id is not in
 * `excludeDeviceIds` — none at all when the user blocks the caller. Mute is not looked at:
 * a call rings through it. Ordered by id.
 */
export async function ringableDevices(
  db: Db,
  opts: { userId: number; callerId: number; excludeDeviceIds: readonly string[]; platforms: PushPlatform[]; now: Date },
): Promise<PushDevice[]> {
  if (opts.platforms.length === 0) return [];
  return db
    .selectFrom('push_devices as d')
    .innerJoin('sessions as s', 's.id', 'd.session_id')
    .select(['d.id', 'd.user_id', 'd.platform', 'd.token', 'd.subscription', 'd.locale'])
    .where('d.user_id', '=', opts.userId)
    .where('d.platform', '=', sql<PushPlatform>`any(${opts.platforms}::text[])`)
    .where('s.revoked_at', 'is', null)
    .where('s.expires_at', '>', opts.now)
    // An array parameter (empty included) keeps one statement text for any count.
    .where(sql<boolean>`not (s.device_id = any(${[...opts.excludeDeviceIds]}::text[]))`)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb.selectFrom('user_blocks as b').select('b.blocker_id').where('b.blocker_id', '=', opts.userId).where('b.blocked_id', '=', opts.callerId),
        ),
      ),
    )
    .orderBy('d.id')
    .execute();
}

/** Most undelivered messages one notification counts ("99+" beyond); bounds the work per row. */
export const MAX_NOTIFIED_COUNT = 100;

/** What one recipient's notification for one conversation says, read when it is sent. */
export interface PendingSummary {
  conversation_id: number;
  user_id: number;
  first_seq: number;
  last_seq: number;
  conversation_type: 'direct' | 'group';
  conversation_name: string | null;
  /** Muted at the time asked. */
  muted: boolean;
  /** The last seq of the row's range committed at or before the cutoff (first_seq - 1 when none is). */
  ripe_seq: number;
  /**
   * Whether a message of the row's range committed at or before the cutoff is still
   * undelivered and may be told of: the recipient's devices did not take it in time.
   */
  due: boolean;
  /** Undelivered messages a notification may tell of, up to last_seq (at most MAX_NOTIFIED_COUNT). */
  count: number;
  /** The newest of them, or null when there is none. */
  latest: {
    id: number;
    seq: number;
    type: 'text' | 'image' | 'video' | 'audio' | 'file';
    content: string;
    attachment_kinds: string[];
    sender_id: number;
    sender_name: string;
  } | null;
}

/**
 * For each (conversation, recipient, first_seq, last_seq): the mute; the messages up to
 * last_seq not yet delivered to the recipient that a notification may tell of — not
 * theirs, not system messages, not deleted or hidden for them, visible to them, not from
 * someone they block — counted (up to MAX_NOTIFIED_COUNT, newest first) with the newest;
 * whether one of them in the row's range was committed at or before `cutoff` (its
 * PUSH_DELAY is over: `due`); and the last seq of the range committed by then. A message
 * that joined the row late gets its own full delay: alone it does not make the row due.
 * Pairs whose recipient is no longer a member are absent.
 */
export async function pendingSummaries(
  db: Db,
  items: { conversationId: number; userId: number; firstSeq: number; lastSeq: number }[],
  now: Date,
  cutoff: Date,
): Promise<PendingSummary[]> {
  if (items.length === 0) return [];
  const { rows } = await sql<
    Omit<PendingSummary, 'ripe_seq' | 'latest'> & {
      ripe_seq: number | null;
      latest_id: number | null;
      latest_seq: number | null;
      latest_type: 'text' | 'image' | 'video' | 'audio' | 'file' | null;
      latest_content: string | null;
      latest_attachments: { kind: string }[] | null;
      latest_sender_id: number | null;
      latest_sender_name: string | null;
    }
  >`
    select v.conversation_id, v.user_id, v.first_seq, v.last_seq, c.type as conversation_type, c.name as conversation_name,
           (p.muted_until is not null and p.muted_until > ${now}) as muted,
           r.ripe_seq, coalesce(w.count, 0) as count, coalesce(w.due, false) as due,
           l.id as latest_id, l.seq as latest_seq, l.type as latest_type, l.content as latest_content,
           l.attachments as latest_attachments, l.sender_id as latest_sender_id, u.username as latest_sender_name
      from unnest(${items.map((i) => i.conversationId)}::bigint[], ${items.map((i) => i.userId)}::bigint[],
                  ${items.map((i) => i.firstSeq)}::bigint[], ${items.map((i) => i.lastSeq)}::bigint[])
           as v(conversation_id, user_id, first_seq, last_seq)
      -- One member's row by its key. As a plain join, a generic plan (prepared statements)
      -- can scan the whole group for each row; the lateral with limit 1 is never folded into one.
      join lateral (
        select * from conversation_participants p0
         where p0.conversation_id = v.conversation_id and p0.user_id = v.user_id limit 1) p on true
      join conversations c on c.id = v.conversation_id
      left join lateral (
        select max(m.seq) as ripe_seq from (
          select seq from messages m
           where m.conversation_id = v.conversation_id and m.seq <= v.last_seq and m.created_at <= ${cutoff}
           order by m.seq desc limit 1) m
      ) r on true
      left join lateral (
        select count(*) as count, max(k.seq) as latest_seq,
               coalesce(bool_or(k.seq >= v.first_seq and k.created_at <= ${cutoff}), false) as due
          from (
          select m.seq, m.created_at from messages m
           where m.conversation_id = v.conversation_id
             and m.seq > greatest(p.last_delivered_seq, p.visible_from_seq) and m.seq <= v.last_seq
             and m.type <> 'system' and m.deleted_at is null and m.sender_id <> v.user_id
             and not exists (select 1 from user_blocks b where b.blocker_id = v.user_id and b.blocked_id = m.sender_id)
             and not exists (select 1 from message_hidden h where h.user_id = v.user_id and h.message_id = m.id)
           order by m.seq desc
           limit ${MAX_NOTIFIED_COUNT}) k
      ) w on true
      left join messages l on l.conversation_id = v.conversation_id and l.seq = w.latest_seq
      left join users u on u.id = l.sender_id`.execute(db);
  return rows.map((r) => ({
    conversation_id: r.conversation_id,
    user_id: r.user_id,
    first_seq: r.first_seq,
    last_seq: r.last_seq,
    conversation_type: r.conversation_type,
    conversation_name: r.conversation_name,
    muted: r.muted,
    ripe_seq: Math.max(r.first_seq - 1, Math.min(r.last_seq, r.ripe_seq ?? 0)),
    count: Number(r.count),
    due: r.due,
    latest:
      r.latest_id === null
        ? null
        : {
            id: r.latest_id,
            seq: r.latest_seq!,
            type: r.latest_type!,
            content: r.latest_content ?? '',
            attachment_kinds: (r.latest_attachments ?? []).map((a) => a.kind),
            sender_id: r.latest_sender_id!,
            sender_name: r.latest_sender_name ?? '',
          },
  }));
}

/** Most unread messages of one conversation the badge counts: bounds the work per user. */
export const MAX_BADGE_PER_CONVERSATION = 1000;

/**
 * Each user's unread messages over all their conversations (the app badge), counted as
 * `unreadCounts` counts them, at most MAX_BADGE_PER_CONVERSATION per conversation;
 * conversations read to the end are not looked into.
 */
export async function unreadTotals(db: Db, userIds: number[]): Promise<Map<number, number>> {
  const totals = new Map<number, number>();
  if (userIds.length === 0) return totals;
  const { rows } = await sql<{ user_id: number; n: number }>`
    select p.user_id, sum(k.n) as n
      from conversation_participants p
      join conversations c on c.id = p.conversation_id and c.last_seq > p.last_read_seq
      cross join lateral (
        select count(*) as n from (
          select 1 from messages m
           where m.conversation_id = p.conversation_id and m.seq > p.last_read_seq
             and m.type <> 'system' and m.deleted_at is null
             and ${notSeenCall}
             and (m.sender_id is null or m.sender_id <> p.user_id)
             and not exists (select 1 from message_hidden h where h.user_id = p.user_id and h.message_id = m.id)
           limit ${MAX_BADGE_PER_CONVERSATION}) u
      ) k
     where p.user_id = any(${userIds}::bigint[])
     group by p.user_id`.execute(db);
  for (const r of rows) totals.set(Number(r.user_id), Number(r.n));
  return totals;
}

/** A claimed row, as the worker settles it. */
export interface Settled {
  conversationId: number;
  deviceId: number;
  /** Up to which seq it is done with (at most the last_seq it was claimed with). */
  lastSeq: number;
}

/**
 * Locks the rows of batch `claim` among `keys`, and every row of the devices in `gone`
 * (about to be deleted, which cascades to them), together in key order — the order the
 * writer's enqueue locks them in — so settling never deadlocks with a commit or with
 * another round's settle. Run first in the settling transaction.
 */
export async function lockClaimed(
  trx: Trx,
  claim: string,
  keys: { conversationId: number; deviceId: number }[],
  gone: number[] = [],
): Promise<void> {
  if (keys.length === 0 && gone.length === 0) return;
  await sql`
    select 1 from push_outbox o
      left join unnest(${keys.map((k) => k.conversationId)}::bigint[], ${keys.map((k) => k.deviceId)}::bigint[]) as v(conversation_id, device_id)
        on o.conversation_id = v.conversation_id and o.device_id = v.device_id and o.claim = ${claim}
     where v.device_id is not null or o.device_id = any(${gone}::bigint[])
     order by o.conversation_id, o.device_id
       for update of o`.execute(trx);
}

/**
 * Settles rows of batch `claim` that are done up to their `lastSeq` (sent, nothing to
 * send, or given up): a row with nothing after it is deleted; one that newer messages
 * moved on keeps waiting, for those only, until `nextDueAt`.
 */
export async function completeClaimed(trx: Trx, claim: string, done: Settled[], nextDueAt: Date): Promise<void> {
  if (done.length === 0) return;
  const conv = done.map((d) => d.conversationId);
  const dev = done.map((d) => d.deviceId);
  const last = done.map((d) => d.lastSeq);
  await sql`
    delete from push_outbox o
     using unnest(${conv}::bigint[], ${dev}::bigint[], ${last}::bigint[]) as v(conversation_id, device_id, last_seq)
     where o.conversation_id = v.conversation_id and o.device_id = v.device_id
       and o.claim = ${claim} and o.last_seq <= v.last_seq`.execute(trx);
  await sql`
    update push_outbox o
       set first_seq = greatest(o.first_seq, v.last_seq + 1), claim = null, attempts = 0, due_at = ${nextDueAt}
      from unnest(${conv}::bigint[], ${dev}::bigint[], ${last}::bigint[]) as v(conversation_id, device_id, last_seq)
     where o.conversation_id = v.conversation_id and o.device_id = v.device_id
       and o.claim = ${claim} and o.last_seq > v.last_seq`.execute(trx);
}

/** Rows of batch `claim` to try again at their own time (`attempts` unchanged: a release is none). */
export async function rescheduleClaimed(
  trx: Trx,
  claim: string,
  rows: { conversationId: number; deviceId: number; dueAt: Date; release?: boolean }[],
): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    update push_outbox o
       set claim = null, due_at = v.due_at, attempts = case when v.release then o.attempts - 1 else o.attempts end
      from unnest(${rows.map((r) => r.conversationId)}::bigint[], ${rows.map((r) => r.deviceId)}::bigint[],
                  ${rows.map((r) => r.dueAt)}::timestamptz[], ${rows.map((r) => r.release === true)}::boolean[])
           as v(conversation_id, device_id, due_at, release)
     where o.conversation_id = v.conversation_id and o.device_id = v.device_id and o.claim = ${claim}`.execute(trx);
}

/** Moves the lease of batch `claim` on (a long round keeps its rows). */
export async function renewClaim(db: Db, claim: string, leaseUntil: Date): Promise<void> {
  // Locked in key order first, like every other statement that touches several rows.
  await sql`
    update push_outbox o set due_at = ${leaseUntil}
      from (select conversation_id, device_id from push_outbox where claim = ${claim}
             order by conversation_id, device_id for update) k
     where o.conversation_id = k.conversation_id and o.device_id = k.device_id`.execute(db);
}

/** Devices a provider said no longer exist (their outbox rows go with them). */
export async function deleteDevices(db: Db | Trx, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom('push_devices').where('id', 'in', ids).execute();
}

/** Rows waiting, and the due time of the earliest (for tests, and the ops issue's metrics). */
export async function outboxState(db: Db): Promise<{ waiting: number; earliestDue: Date | null }> {
  const row = await db
    .selectFrom('push_outbox')
    .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.min('due_at').as('earliest')])
    .executeTakeFirstOrThrow();
  return { waiting: Number(row.n), earliestDue: (row.earliest as Date | null) ?? null };
}
