import { sql } from 'kysely';
import type { PushPlatform, WebPushSubscription } from '../domain/devices.js';
import type { Db, Trx } from './database.js';

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
  await sql`
    insert into push_outbox (conversation_id, device_id, user_id, first_seq, last_seq, due_at)
    select v.conversation_id, d.id, p.user_id, min(v.seq), max(v.seq), ${opts.dueAt}
      from unnest(${messages.map((m) => m.conversationId)}::bigint[], ${messages.map((m) => m.seq)}::bigint[],
                  ${messages.map((m) => m.senderId)}::bigint[]) as v(conversation_id, seq, sender_id)
      join conversation_participants p on p.conversation_id = v.conversation_id and p.user_id <> v.sender_id
      join push_devices d on d.user_id = p.user_id and d.platform = any(${opts.platforms}::text[])
      join sessions s on s.id = d.session_id and s.revoked_at is null and s.expires_at > ${opts.now}
     where p.muted_until is null or p.muted_until <= ${opts.now}
     group by v.conversation_id, d.id, p.user_id
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
  const { rows } = await sql<ClaimedPush>`
    update push_outbox o
       set due_at = ${opts.leaseUntil}, claim = ${opts.claim}, attempts = o.attempts + 1
      from (select conversation_id, device_id from push_outbox
             where due_at <= ${opts.now}
             order by due_at
             limit ${opts.limit}
               for update skip locked) due
     where o.conversation_id = due.conversation_id and o.device_id = due.device_id
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

/** What one recipient's notification for one conversation says, read when it is sent. */
export interface PendingSummary {
  conversation_id: number;
  user_id: number;
  first_seq: number;
  last_seq: number;
  conversation_type: 'direct' | 'group';
  conversation_name: string | null;
  last_delivered_seq: number;
  /** Muted at the time asked. */
  muted: boolean;
  /** Messages not yet delivered to the recipient that a notification may tell of. */
  count: number;
  /** How many of those are in the row's own range (first_seq..last_seq): none means nothing new. */
  fresh: number;
  /** The newest of them. */
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
 * For each (conversation, recipient, first_seq, last_seq): the recipient's pointers and
 * mute, and the messages up to last_seq not yet delivered to them that a notification
 * may tell of — not theirs, not system messages, not deleted or hidden for them, visible
 * to them, not from someone they block. Pairs the recipient is no longer a member of are
 * absent.
 */
export async function pendingSummaries(
  db: Db,
  items: { conversationId: number; userId: number; firstSeq: number; lastSeq: number }[],
  now: Date,
): Promise<PendingSummary[]> {
  if (items.length === 0) return [];
  const { rows } = await sql<{
    conversation_id: string | number;
    user_id: string | number;
    first_seq: string | number;
    last_seq: string | number;
    conversation_type: 'direct' | 'group';
    conversation_name: string | null;
    last_delivered_seq: string | number;
    muted: boolean;
    count: string | number;
    fresh: string | number;
    latest_id: string | number | null;
    latest_seq: string | number | null;
    latest_type: PendingSummary['latest'] extends infer L ? (L extends { type: infer T } ? T : never) : never;
    latest_content: string | null;
    latest_attachments: { kind: string }[] | null;
    latest_sender_id: string | number | null;
    latest_sender_name: string | null;
  }>`
    select v.conversation_id, v.user_id, v.first_seq, v.last_seq, c.type as conversation_type, c.name as conversation_name,
           p.last_delivered_seq,
           (p.muted_until is not null and p.muted_until > ${now}) as muted,
           coalesce(w.count, 0) as count, coalesce(w.fresh, 0) as fresh,
           l.id as latest_id, l.seq as latest_seq, l.type as latest_type, l.content as latest_content,
           l.attachments as latest_attachments, l.sender_id as latest_sender_id, u.username as latest_sender_name
      from unnest(${items.map((i) => i.conversationId)}::bigint[], ${items.map((i) => i.userId)}::bigint[],
                  ${items.map((i) => i.firstSeq)}::bigint[], ${items.map((i) => i.lastSeq)}::bigint[])
           as v(conversation_id, user_id, first_seq, last_seq)
      join conversation_participants p on p.conversation_id = v.conversation_id and p.user_id = v.user_id
      join conversations c on c.id = v.conversation_id
      left join lateral (
        select count(*) as count, count(*) filter (where m.seq >= v.first_seq) as fresh, max(m.seq) as latest_seq
          from messages m
         where m.conversation_id = v.conversation_id
           and m.seq > greatest(p.last_delivered_seq, p.visible_from_seq) and m.seq <= v.last_seq
           and m.type <> 'system' and m.deleted_at is null and m.sender_id <> v.user_id
           and not exists (select 1 from user_blocks b where b.blocker_id = v.user_id and b.blocked_id = m.sender_id)
           and not exists (select 1 from message_hidden h where h.user_id = v.user_id and h.message_id = m.id)
      ) w on true
      left join messages l on l.conversation_id = v.conversation_id and l.seq = w.latest_seq
      left join users u on u.id = l.sender_id`.execute(db);
  return rows.map((r) => ({
    conversation_id: Number(r.conversation_id),
    user_id: Number(r.user_id),
    first_seq: Number(r.first_seq),
    last_seq: Number(r.last_seq),
    conversation_type: r.conversation_type,
    conversation_name: r.conversation_name,
    last_delivered_seq: Number(r.last_delivered_seq),
    muted: r.muted,
    count: Number(r.count),
    fresh: Number(r.fresh),
    latest:
      r.latest_id === null
        ? null
        : {
            id: Number(r.latest_id),
            seq: Number(r.latest_seq),
            type: r.latest_type,
            content: r.latest_content ?? '',
            attachment_kinds: (r.latest_attachments ?? []).map((a) => a.kind),
            sender_id: Number(r.latest_sender_id),
            sender_name: r.latest_sender_name ?? '',
          },
  }));
}

/**
 * Each user's unread messages over all their conversations (the app badge), counted as
 * `unreadCounts` counts them.
 */
export async function unreadTotals(db: Db, userIds: number[]): Promise<Map<number, number>> {
  const totals = new Map<number, number>();
  if (userIds.length === 0) return totals;
  const { rows } = await sql<{ user_id: string | number; n: string | number }>`
    select p.user_id, count(*) as n
      from conversation_participants p
      join messages m on m.conversation_id = p.conversation_id and m.seq > p.last_read_seq
     where p.user_id = any(${userIds}::bigint[])
       and m.type <> 'system' and m.deleted_at is null
       and (m.sender_id is null or m.sender_id <> p.user_id)
       and not exists (select 1 from message_hidden h where h.user_id = p.user_id and h.message_id = m.id)
     group by p.user_id`.execute(db);
  for (const r of rows) totals.set(Number(r.user_id), Number(r.n));
  return totals;
}

/** A claimed row, as the worker settles it. */
export interface Settled {
  conversationId: number;
  deviceId: number;
  /** The last_seq it was claimed with. */
  lastSeq: number;
}

/**
 * Settles rows of batch `claim` that are done (sent, or nothing to send): a row whose
 * last_seq is still the claimed one is deleted; one that a newer message moved on keeps
 * waiting, for that message only, until `nextDueAt`.
 */
export async function completeClaimed(db: Db, claim: string, done: Settled[], nextDueAt: Date): Promise<void> {
  if (done.length === 0) return;
  const conv = done.map((d) => d.conversationId);
  const dev = done.map((d) => d.deviceId);
  const last = done.map((d) => d.lastSeq);
  await sql`
    delete from push_outbox o
     using unnest(${conv}::bigint[], ${dev}::bigint[], ${last}::bigint[]) as v(conversation_id, device_id, last_seq)
     where o.conversation_id = v.conversation_id and o.device_id = v.device_id
       and o.claim = ${claim} and o.last_seq = v.last_seq`.execute(db);
  await sql`
    update push_outbox o
       set first_seq = v.last_seq + 1, claim = null, attempts = 0, due_at = ${nextDueAt}
      from unnest(${conv}::bigint[], ${dev}::bigint[], ${last}::bigint[]) as v(conversation_id, device_id, last_seq)
     where o.conversation_id = v.conversation_id and o.device_id = v.device_id
       and o.claim = ${claim} and o.last_seq > v.last_seq`.execute(db);
}

/** Rows of batch `claim` to try again at their own time. */
export async function rescheduleClaimed(db: Db, claim: string, rows: (Settled & { dueAt: Date })[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    update push_outbox o
       set claim = null, due_at = v.due_at
      from unnest(${rows.map((r) => r.conversationId)}::bigint[], ${rows.map((r) => r.deviceId)}::bigint[],
                  ${rows.map((r) => r.dueAt)}::timestamptz[]) as v(conversation_id, device_id, due_at)
     where o.conversation_id = v.conversation_id and o.device_id = v.device_id and o.claim = ${claim}`.execute(db);
}

/** Rows of batch `claim` given up (too many attempts, refused for good): gone, whatever came since. */
export async function dropClaimed(db: Db, claim: string, rows: Settled[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    delete from push_outbox o
     using unnest(${rows.map((r) => r.conversationId)}::bigint[], ${rows.map((r) => r.deviceId)}::bigint[]) as v(conversation_id, device_id)
     where o.conversation_id = v.conversation_id and o.device_id = v.device_id and o.claim = ${claim}`.execute(db);
}

/** Devices a provider said no longer exist (their outbox rows go with them). */
export async function deleteDevices(db: Db, ids: number[]): Promise<void> {
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
