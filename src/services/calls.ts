import type { FastifyBaseLogger } from 'fastify';
import type { CallPatch, CallStore, LiveCall } from '../calls/call-store.js';
import type { Clock } from '../domain/clock.js';
import { MAX_CALL_MS, outcomeOf, type CallEndReason, type CallInfo, type CallOutcome, type CallState } from '../domain/calls.js';
import { AppError } from '../domain/errors.js';
import { NO_CALL_METER, type CallMeter } from '../metrics/meters.js';
import type { AttachmentLinks } from '../domain/attachments.js';
import { senderView, toMessage } from '../domain/messages.js';
import type { IceCandidate } from '../schemas/calls.js';
import { frames, type ServerFrame } from '../schemas/server-frames.js';
import { callIdRecorded, isCallIdConflict, openCallRecords, type OpenCallRecord } from '../store/calls.repository.js';
import { findForMember } from '../store/conversations.repository.js';
import type { Db } from '../store/database.js';
import { insertOwnMessages, type MessageRow } from '../store/messages.repository.js';
import type { BlocksService } from './blocks.js';
import type { Fanout } from './fanout.js';
import type { MessageChangesService } from './message-changes.js';
import type { MessageWriter } from './message-writer.js';
import type { MessagesService } from './messages.js';
import type { NodeCache } from './node-cache.js';

export interface CallsOptions {
  /** How long a call rings before it ends as missed (ms). */
  ringTimeoutMs: number;
  /** How long an answered call may take to connect (ms). */
  connectTimeoutMs: number;
  /** How often this node looks for calls past their deadline (ms). */
  pollMs: number;
  /** How long a callee's connected devices have to say they ring before the others are pushed (ms). */
  pushGraceMs: number;
  /**
   * How much longer than the grace a claim on a call's ring push holds before another
   * node may send it, when the claiming node did not (it stopped, or its push failed
   * before it was sent) (ms).
   */
  pushTakeoverMs: number;
  /** How long an end of an active call may go without a `call_connected` keepalive (ms), see `connected`. */
  deviceGraceMs: number;
  /** How often this node settles the records of calls whose state was lost, and how old such a record must be (ms), see `settleLost`. */
  settleMs: number;
}

export const DEFAULT_CALL_TUNING = { pollMs: 500, pushGraceMs: 1000, pushTakeoverMs: 4000, deviceGraceMs: 60_000, settleMs: 60_000 };

/** What a call frame comes from: a user's socket, known by its device. */
export interface CallDevice {
  userId: number;
  deviceId: string;
  /** Answers this socket alone (a refusal, a re-sent invite). */
  send(frame: ServerFrame): void;
}

/** The push side of ringing (PushService): the callee's devices with no socket that rings. */
export interface RingPush {
  ringDevices(input: {
    userId: number;
    excludeDevices: readonly string[];
    call: {
      call_id: string;
      conversation_id: number;
      caller_id: number;
      caller_name: string;
      video: boolean;
      sent_at: number;
      ring_timeout_ms: number;
    };
    /** Told how many devices will be rung, once they are read. */
    onTargets?: (count: number) => void;
    /** Asked before each retry: false stops ringing. */
    stillRinging?: () => Promise<boolean>;
  }): Promise<unknown>;
}

const notFoundCall = () => new AppError('not_found', 'Call not found');
const callIdTaken = () => new AppError('call_in_progress', 'This call_id is taken; choose a new one for each call', { field: 'call_id' });

/** The record outcomes a change may replace: a call's record only moves forward. */
const BEFORE: Record<CallOutcome, readonly CallOutcome[]> = {
  ringing: [],
  connecting: ['ringing'],
  active: ['ringing', 'connecting'],
  finished: ['ringing', 'connecting', 'active'],
  missed: ['ringing', 'connecting', 'active'],
  declined: ['ringing', 'connecting', 'active'],
  cancelled: ['ringing', 'connecting', 'active'],
  busy: ['ringing', 'connecting', 'active'],
  failed: ['ringing', 'connecting', 'active'],
};

/**
 * Voice and video call signalling between two members of a direct conversation
 * (docs/protocol.md "Calls"). natter relays session descriptions and ICE candidates
 * between the caller's device and the callee's devices, rings every callee device
 * (sockets, then a push to the rest), lets exactly one answer win, ends calls on
 * timeouts, and keeps each call's record — a message of type `call` — up to date.
 *
 * A call's state is in the CallStore (Redis in a cluster), changed only by
 * compare-and-set, so frames of one call may arrive through different nodes: of two
 * answers, or a hangup and a timeout, one wins and does the side effects. Every node
 * polls the store for calls past their deadline.
 */
export class CallsService {
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  /** When this node last settled lost calls' records (0: not yet, so the first sweep does). */
  private settledAt = 0;
  private readonly pushTimers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly store: CallStore,
    private readonly db: Db,
    private readonly cache: NodeCache,
    private readonly blocks: BlocksService,
    private readonly fanout: Fanout,
    private readonly writer: MessageWriter,
    private readonly messages: MessagesService,
    private readonly changes: MessageChangesService,
    private readonly links: AttachmentLinks,
    private readonly push: RingPush | undefined,
    private readonly clock: Clock,
    private readonly opts: CallsOptions,
    private readonly log: FastifyBaseLogger,
    private readonly meter: CallMeter = NO_CALL_METER,
  ) {}

  /** The timeouts natter runs calls by, for the `connected` frame. */
  get timeouts(): { ring_timeout_ms: number; connect_timeout_ms: number } {
    return { ring_timeout_ms: this.opts.ringTimeoutMs, connect_timeout_ms: this.opts.connectTimeoutMs };
  }

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.opts.pollMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const t of this.pushTimers.values()) clearTimeout(t);
    this.pushTimers.clear();
  }

  /**
   * A device calls the other member of a direct conversation. Throws not_found (not a
   * member), validation_failed (not a direct conversation), blocked, call_in_progress
   * (the conversation has a live call, the call id is taken, or this device is in
   * another call). Glare — the other member calls this one at the same time — is not an
   * error: the call with the lesser id goes on, the other ends `cancelled` with `glare`.
   */
  async invite(from: CallDevice, input: { conversationId: number; callId: string; sdp: string; video: boolean }): Promise<void> {
    const callId = input.callId.toLowerCase();
    const conversation = await findForMember(this.db, input.conversationId, from.userId);
    if (!conversation) throw new AppError('not_found', 'Conversation not found');
    if (conversation.type !== 'direct') {
      throw new AppError('validation_failed', 'Calls are between the two members of a direct conversation', { field: 'conversation_id' });
    }
    const calleeId = (await this.cache.memberIds(input.conversationId)).find((id) => id !== from.userId);
    if (calleeId === undefined) throw new AppError('not_found', 'Conversation not found');
    await this.blocks.assertMaySendTo(from.userId, input.conversationId);
    // A call_id names one call for ever, not only while the store keeps its ended call.
    if (await callIdRecorded(this.db, callId)) throw callIdTaken();

    const now = this.clock.now();
    const call: LiveCall = {
      id: callId,
      conversationId: input.conversationId,
      messageId: null,
      seq: null,
      callerId: from.userId,
      callerDevice: from.deviceId,
      calleeId,
      video: input.video,
      sdp: input.sdp,
      state: 'ringing',
      startedAt: now,
      answeredAt: null,
      connectedAt: null,
      endedAt: null,
      selectedDevice: null,
      answerSdp: null,
      reason: null,
      glare: false,
      ringingDevices: [],
      busyDevices: [],
      callerSeenAt: null,
      calleeSeenAt: null,
      pushedDevices: null,
      pushClaimedAt: null,
      deadline: now + this.opts.ringTimeoutMs,
    };
    let created = await this.store.create(call);
    if (!created.created && created.why === 'live' && isGlare(created.live, call)) {
      // Glare is resolved only for an invite that could be placed at all: from a device
      // in no other call, with a call_id never used.
      if (await this.store.get(call.id)) created = { created: false, why: 'taken' };
      else if ((await this.store.busyDevicesOf(from.userId)).includes(from.deviceId)) {
        created = { created: false, why: 'busy', live: created.live };
      } else if (call.id < created.live.id) {
        // This call wins: the other one ends as glare, then this one takes its place.
        await this.end(created.live.id, 'cancelled', ['ringing'], { glare: true });
        created = await this.store.create(call);
      } else {
        // The other call wins: this one is recorded as cancelled by glare, and never rings.
        const record = await this.writeRecord({ ...call, state: 'ended', endedAt: now, reason: 'cancelled', glare: true, deadline: null });
        await this.publishRecord(call, record);
        await this.toParties(call, frames.call('call_ended', { call_id: call.id, reason: 'cancelled', glare: true }));
        return;
      }
    }
    if (!created.created) {
      if (created.why === 'taken') throw callIdTaken();
      const why = created.why === 'busy' ? 'This device is in another call' : 'A call is already in progress in this conversation';
      throw new AppError('call_in_progress', why, { field: 'call_id' });
    }

    try {
      await this.place(call);
    } catch (err) {
      // Half placed is worse than refused: a call nobody was told about must not hold the
      // conversation (and the caller's device) until it times out.
      await this.end(call.id, 'failed', ['ringing']).catch(() => {});
      throw err;
    }
  }

  /** Records a new call, tells both members, and rings the callee's devices that are in no other call. */
  private async place(call: LiveCall): Promise<void> {
    const record = await this.writeRecord(call);
    const placed = await this.store.transition(call.id, ['ringing', 'connecting', 'active', 'ended'], { messageId: record.id, seq: record.seq });
    const current = placed.call ?? { ...call, state: 'ended' as const };
    await this.publishRecord(call, record);
    if (current.state === 'ended') {
      // It ended before its record was written (a timeout shorter than a commit): the
      // record says so now.
      await this.updateRecord(current, 'ringing');
      return;
    }
    this.meter.started();
    const busy = await this.store.busyDevicesOf(call.calleeId);
    await this.fanout.toDevices(call.calleeId, { except: busy }, this.inviteFrame(current));
    await this.unlessEnded(call.id, call.calleeId);
    // The ring push is this node's to send once the grace is over; the claim, made
    // now the invite is out, lets another node send it if this one does not.
    const claimed = await this.store.claimPush(call.id, this.clock.now(), this.pushLeaseMs);
    if (claimed) this.schedulePush(claimed, claimed.pushClaimedAt!);
  }

  /** How long a claim on a ring push holds (see `pushTakeoverMs`). */
  private get pushLeaseMs(): number {
    return this.opts.pushGraceMs + this.opts.pushTakeoverMs;
  }

  /**
   * A call that ended while its invite was on its way (on another node, by glare or a
   * hangup) may reach a device after its `call_ended`: tell the callee again, so that
   * no device rings for a call that is over (a repeated `call_ended` is harmless).
   */
  private async unlessEnded(callId: string, calleeId: number, send?: (frame: ServerFrame) => void): Promise<void> {
    const after = await this.store.get(callId);
    if (after && after.state !== 'ended') return;
    const frame = frames.call('call_ended', { call_id: callId, reason: after?.reason ?? 'cancelled', ...(after?.glare ? { glare: true } : {}) });
    if (send) send(frame);
    else await this.fanout.toUsers([calleeId], frame);
  }

  /**
   * The call ends `busy` when some callee device is busy (in another call, or said so)
   * and no other rings: none said `call_ringing`, and the push (made by now) reached none.
   */
  private async endIfAllBusy(callId: string): Promise<void> {
    const call = await this.store.get(callId);
    if (!call || call.state !== 'ringing' || call.pushedDevices === null || call.pushedDevices > 0) return;
    const busy = new Set([...call.busyDevices, ...(await this.store.busyDevicesOf(call.calleeId))]);
    if (busy.size === 0 || call.ringingDevices.some((d) => !busy.has(d))) return;
    await this.end(call.id, 'busy', ['ringing']);
  }

  /** A callee device shows the call: the caller's device hears that it rings. */
  async ringing(from: CallDevice, callId: string): Promise<void> {
    const call = await this.partyCall(from, callId);
    if (from.userId !== call.calleeId || call.state !== 'ringing') return;
    const after = await this.store.addDevice(call.id, 'ringingDevices', from.deviceId);
    if (!after) return;
    await this.fanout.toDevices(call.callerId, { only: call.callerDevice }, frames.call('call_ringing', { call_id: call.id, ...fromFields(from) }));
  }

  /**
   * A callee device answers. The first answer wins (compare-and-set ringing →
   * connecting): the caller's device gets the answer and `call_selected`, the callee's
   * other devices `call_ended {answered_elsewhere}`. A later answer gets that too. A
   * device that is one end of another call cannot answer (call_in_progress).
   */
  async answer(from: CallDevice, callId: string, sdp: string): Promise<void> {
    const call = await this.partyCall(from, callId);
    if (from.userId !== call.calleeId) throw notFoundCall();
    if (call.state === 'ringing' && (await this.store.busyDevicesOf(from.userId)).includes(from.deviceId)) {
      throw new AppError('call_in_progress', 'This device is in another call; hang that one up first', { field: 'call_id' });
    }
    const now = this.clock.now();
    const won = await this.store.transition(call.id, ['ringing'], {
      state: 'connecting',
      selectedDevice: from.deviceId,
      answerSdp: sdp,
      answeredAt: now,
      deadline: now + this.opts.connectTimeoutMs,
    });
    if (!won.ok) {
      if (!won.call || won.call.state === 'ended') throw notFoundCall();
      // Another device, or another tab of this one, answered first.
      from.send(frames.call('call_ended', { call_id: call.id, reason: 'answered_elsewhere' }));
      return;
    }
    const answered = won.call;
    this.cancelPush(call.id);
    // The record first, so that it says `connecting` before anything can say `active`
    // (and an answered call no longer counts as unread: `notSeenCall`). The callee's read
    // pointer stays: messages before the call may still be unread.
    await this.updateRecord(answered, 'connecting');
    await Promise.all([
      this.fanout.toDevices(call.callerId, { only: call.callerDevice }, frames.call('call_answer', { call_id: call.id, sdp, ...fromFields(from) })),
      // The callee's sockets too: another tab of the answering device (the same session)
      // stops ringing on it, as the other devices do on answered_elsewhere.
      this.fanout.toUsers([call.callerId, call.calleeId], frames.call('call_selected', { call_id: call.id, device_id: from.deviceId })),
      this.fanout.toDevices(call.calleeId, { except: [from.deviceId] }, frames.call('call_ended', { call_id: call.id, reason: 'answered_elsewhere' })),
    ]);
  }

  /**
   * ICE candidates between the two devices. The caller's go to `to_device`, or the
   * answering device, or (while it rings) every callee device; the answering device's go
   * to the caller's device. Anyone else's are refused as for an unknown call.
   */
  async candidates(from: CallDevice, callId: string, candidates: IceCandidate[], toDevice?: string): Promise<void> {
    const call = await this.partyCall(from, callId);
    const frame = frames.call('call_candidates', { call_id: call.id, candidates, ...fromFields(from) });
    if (isCallerDevice(call, from)) {
      const target = toDevice ?? call.selectedDevice;
      if (target) await this.fanout.toDevices(call.calleeId, { only: target }, frame);
      else await this.fanout.toUsers([call.calleeId], frame);
      return;
    }
    if (!isSelectedDevice(call, from)) throw notFoundCall();
    await this.fanout.toDevices(call.callerId, { only: call.callerDevice }, frame);
  }

  /** A new offer or answer between the two connected devices (video on, a network change). */
  async negotiate(from: CallDevice, callId: string, sdp: string, sdpType: 'offer' | 'answer'): Promise<void> {
    const call = await this.partyCall(from, callId);
    const frame = frames.call('call_negotiate', { call_id: call.id, sdp, sdp_type: sdpType, ...fromFields(from) });
    if (isCallerDevice(call, from) && call.selectedDevice) await this.fanout.toDevices(call.calleeId, { only: call.selectedDevice }, frame);
    else if (isSelectedDevice(call, from)) await this.fanout.toDevices(call.callerId, { only: call.callerDevice }, frame);
    else throw notFoundCall();
  }

  /**
   * A callee device turns the call down: `declined` ends it everywhere; `busy` drops
   * only this device, and ends the call `busy` once no device of the callee is left to
   * ring (see endIfAllBusy).
   */
  async reject(from: CallDevice, callId: string, reason: 'declined' | 'busy'): Promise<void> {
    const call = await this.partyCall(from, callId);
    if (from.userId !== call.calleeId) throw notFoundCall();
    if (reason === 'busy') {
      if (call.state === 'ringing' && (await this.store.addDevice(call.id, 'busyDevices', from.deviceId))) await this.endIfAllBusy(call.id);
      return;
    }
    await this.hangup(from, callId, 'hangup');
  }

  /**
   * Either end ends the call. The caller hanging up while it rings cancels it (a missed
   * call for the callee); a callee device doing so declines it. Should the call move on
   * meanwhile (an answer won on another node), the hangup applies to where it is now.
   */
  async hangup(from: CallDevice, callId: string, reason: 'hangup' | 'failed'): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      // Once a first try lost to another change, a call that ended meanwhile is done with.
      const call = attempt === 0 ? await this.partyCall(from, callId) : await this.store.get(callId.toLowerCase());
      if (!call || call.state === 'ended') return;
      if (call.state === 'ringing') {
        if (isCallerDevice(call, from)) {
          if (await this.end(call.id, 'cancelled', ['ringing'])) return;
        } else if (from.userId === call.calleeId) {
          if (await this.end(call.id, 'declined', ['ringing'])) return;
        } else throw notFoundCall();
        continue;
      }
      if (!isCallerDevice(call, from) && !isSelectedDevice(call, from)) {
        if (from.userId === call.calleeId) return; // another callee device: the call is not its own any more
        throw notFoundCall();
      }
      if (await this.end(call.id, reason, ['connecting', 'active'])) return;
    }
  }

  /**
   * A party's device is connected (ICE and DTLS). The first makes the call active (its
   * duration counts from now); while active, each end repeats it every 15 s, and a call
   * one of whose ends has been silent for `deviceGraceMs` (60 s) ends `failed`: a device
   * that vanished (crashed, lost its network) never holds the call, the conversation and
   * the other device for long. A repeat may arrive through any node.
   */
  async connected(from: CallDevice, callId: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const call = await this.partyCall(from, callId);
      if (!isCallerDevice(call, from) && !isSelectedDevice(call, from)) throw notFoundCall();
      if (call.state !== 'connecting' && call.state !== 'active') return;
      const now = this.clock.now();
      // Only this end's time is written (the other end's only the first time, when its
      // grace starts): the other end's keepalive may be going through another node at
      // this moment, and must not be overwritten with the time read here. The deadline
      // from a time read here may be early by one repeat; the sweep looks again (silentSince).
      const [mine, theirs] = isCallerDevice(call, from) ? (['callerSeenAt', 'calleeSeenAt'] as const) : (['calleeSeenAt', 'callerSeenAt'] as const);
      const seen: CallPatch = { [mine]: now, ...(call[theirs] === null ? { [theirs]: now } : {}) };
      const connectedAt = call.connectedAt ?? now;
      const deadline = Math.min(Math.min(now, call[theirs] ?? now) + this.opts.deviceGraceMs, connectedAt + MAX_CALL_MS);
      const done = await this.store.transition(call.id, [call.state], { state: 'active', connectedAt, ...seen, deadline });
      if (!done.ok) continue;
      if (call.state === 'connecting') await this.updateRecord(done.call, 'active');
      return;
    }
  }

  /**
   * A socket of the user connected: calls ringing for them ring there too (unless this
   * device is in another call), and a caller device that was offline when its call was
   * answered gets the answer and `call_selected` now. A socket that connects while the
   * answer's own frames are still on their way gets both twice; clients take the first.
   */
  async resume(device: CallDevice): Promise<void> {
    const calls = await this.store.liveFor(device.userId);
    const busy = calls.flatMap((c) => [c.callerId === device.userId ? c.callerDevice : null, c.calleeId === device.userId ? c.selectedDevice : null]);
    for (const call of calls) {
      if (call.state === 'connecting' && isCallerDevice(call, device) && call.selectedDevice !== null && call.answerSdp) {
        device.send(frames.call('call_answer', { call_id: call.id, sdp: call.answerSdp, from_user_id: call.calleeId, from_device: call.selectedDevice }));
        device.send(frames.call('call_selected', { call_id: call.id, device_id: call.selectedDevice }));
        continue;
      }
      if (call.state === 'ringing' && call.calleeId === device.userId && call.messageId !== null) {
        if (busy.includes(device.deviceId) || call.busyDevices.includes(device.deviceId)) continue;
        device.send(this.inviteFrame(call));
        await this.unlessEnded(call.id, call.calleeId, (frame) => device.send(frame));
      }
    }
  }

  /**
   * Ends calls past their deadline: ring → missed, connect → connect_timeout, a
   * connected call at its longest → hangup, one an end of which fell silent → failed.
   */
  async sweep(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      for (const id of await this.store.due(this.clock.now())) {
        const call = await this.store.get(id);
        if (!call || call.state === 'ended' || call.deadline === null || call.deadline > this.clock.now()) continue;
        const longest = call.connectedAt !== null && call.deadline >= call.connectedAt + MAX_CALL_MS;
        if (call.state === 'active' && !longest) {
          // Its deadline may be a repeat behind the ends' keepalives (see `connected`): it
          // fails only if an end has really been silent for the grace.
          const until = Math.min(silentSince(call) + this.opts.deviceGraceMs, call.connectedAt! + MAX_CALL_MS);
          if (until > this.clock.now()) {
            await this.store.transition(id, ['active'], { deadline: until });
            continue;
          }
        }
        const reason: CallEndReason =
          call.state === 'ringing' ? 'missed' : call.state === 'connecting' ? 'connect_timeout' : longest ? 'hangup' : 'failed';
        await this.end(id, reason, [call.state]);
      }
      await this.pushLeftBehind();
      if (this.clock.now() - this.settledAt >= this.opts.settleMs) {
        this.settledAt = this.clock.now();
        await this.settleLost();
      }
    } catch (err) {
      this.log.warn({ err }, 'ending overdue calls failed; trying again');
    } finally {
      this.polling = false;
    }
  }

  /**
   * Ring pushes claimed but not sent — the node that placed the call stopped in the
   * moment between its invite and its push, or its push failed before it was sent: once
   * the claim is old, any node claims it and sends it, late rather than never. A call
   * whose invite never went out is left to its ring timeout.
   */
  private async pushLeftBehind(): Promise<void> {
    for (const id of await this.store.unpushed(this.clock.now() - this.pushLeaseMs)) {
      if (this.pushTimers.has(id)) continue;
      const claimed = await this.store.claimPush(id, this.clock.now(), this.pushLeaseMs);
      if (!claimed) continue;
      this.log.info({ callId: id }, 'sending a ring push its node did not send');
      this.startPush(claimed);
    }
  }

  /**
   * Records that still say a call rings, connects or lasts, of calls the store no longer
   * knows — their state was lost with a lone node that restarted, or expired while every
   * node was down — are settled: a call lost while it rang is missed, one lost later
   * failed. A record of an ended call whose update did not go through gets its outcome.
   * Only records older than `settleMs` are looked at; every node does it, and a record
   * only moves forward (the first node's change wins).
   */
  async settleLost(): Promise<number> {
    const now = this.clock.now();
    let settled = 0;
    let after: OpenCallRecord | undefined;
    // Page by page (live calls older than settleMs fill pages too), at most 20 pages a round.
    for (let page = 0; page < 20; page++) {
      const records = await openCallRecords(this.db, this.opts.settleMs, 100, after);
      for (const record of records) {
        try {
          if (await this.settleOne(record, now)) settled++;
        } catch (err) {
          this.log.warn({ err, callId: record.call.call_id }, 'settling a call record failed; trying again later');
        }
      }
      if (records.length < 100) break;
      after = records.at(-1);
    }
    return settled;
  }

  private async settleOne(record: OpenCallRecord, now: number): Promise<boolean> {
    const info = record.call;
    const call = await this.store.get(info.call_id);
    if (call && call.state !== 'ended') return false;
    // The state it ended from, as the store knows it: the record may be behind (its update failed).
    const before: CallState = call ? (call.connectedAt !== null ? 'active' : call.answeredAt !== null ? 'connecting' : 'ringing') : 'ringing';
    const update = call ? callInfo(call, outcomeOf(call.reason!, before, call.glare)) : lostCallInfo(info, now, this.opts);
    const done = await this.changes.updateCallRecord(record.conversation_id, record.id, update, BEFORE[update.outcome]);
    if (done) {
      this.log.info({ callId: info.call_id, outcome: update.outcome }, call ? 'updated the record of an ended call' : 'settled the record of a call whose state was lost');
    }
    return done;
  }

  /**
   * Ends the call if it is in one of `from` (compare-and-set; false when it was not, or
   * another node ended it first). The winner tells both users' sockets and updates the
   * record.
   */
  private async end(callId: string, reason: CallEndReason, from: readonly CallState[], extra: { glare?: boolean } = {}): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const call = await this.store.get(callId);
      if (!call || !from.includes(call.state)) return false;
      const done = await this.store.transition(callId, [call.state], {
        state: 'ended',
        endedAt: this.clock.now(),
        reason,
        deadline: null,
        ...(extra.glare ? { glare: true } : {}),
      });
      if (!done.ok) continue;
      this.meter.ended(reason);
      this.cancelPush(callId);
      await this.toParties(done.call, frames.call('call_ended', { call_id: callId, reason, ...(extra.glare ? { glare: true } : {}) }));
      await this.updateRecord(done.call, call.state);
      return true;
    }
    return false;
  }

  /** The call, if `from` is one of its two users and it is not over; not_found otherwise (as for an unknown call). */
  private async partyCall(from: CallDevice, callId: string): Promise<LiveCall> {
    const call = await this.store.get(callId.toLowerCase());
    if (!call || call.state === 'ended' || (from.userId !== call.callerId && from.userId !== call.calleeId)) throw notFoundCall();
    return call;
  }

  private inviteFrame(call: LiveCall) {
    return frames.call('call_invite', {
      call_id: call.id,
      conversation_id: call.conversationId,
      sdp: call.sdp,
      video: call.video,
      from_user_id: call.callerId,
      from_device: call.callerDevice,
      started_at: new Date(call.startedAt).toISOString(),
      ring_timeout_ms: this.opts.ringTimeoutMs,
      message_id: call.messageId ?? 0,
      seq: call.seq ?? 0,
    });
  }

  private toParties(call: Pick<LiveCall, 'callerId' | 'calleeId'>, frame: ServerFrame): Promise<void> {
    return this.fanout.toUsers([call.callerId, call.calleeId], frame);
  }

  /** Writes the call's record (a message of type call from the caller) in the conversation's write lane. */
  private async writeRecord(call: LiveCall): Promise<MessageRow> {
    try {
      return await this.insertRecord(call);
    } catch (err) {
      throw isCallIdConflict(err) ? callIdTaken() : err;
    }
  }

  private insertRecord(call: LiveCall): Promise<MessageRow> {
    return this.writer.run(call.conversationId, async (trx) => {
      const outcome = call.state === 'ended' ? outcomeOf(call.reason!, 'ringing', call.glare) : 'ringing';
      const rows = await insertOwnMessages(trx, call.conversationId, call.callerId, [{ type: 'call', content: '', call: callInfo(call, outcome) }]);
      if (!rows) throw new AppError('not_found', 'Conversation not found');
      return rows[0]!;
    });
  }

  private async publishRecord(call: LiveCall, row: MessageRow): Promise<void> {
    const [profile, relations] = await Promise.all([this.cache.profile(call.callerId), this.blocks.relations(call.callerId)]);
    await this.messages.publishNew(toMessage(row, senderView(profile), 'sent', this.links), profile, [call.callerId, call.calleeId], relations);
  }

  /** The record follows the call: its outcome now, given the state the call was in before. */
  private async updateRecord(call: LiveCall, before: CallState): Promise<void> {
    if (call.messageId === null) return;
    const outcome: CallOutcome = call.state === 'ended' ? outcomeOf(call.reason!, before, call.glare) : call.state;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.changes.updateCallRecord(call.conversationId, call.messageId, callInfo(call, outcome), BEFORE[outcome]);
        return;
      } catch (err) {
        // A database that is briefly away: the record is the call's only lasting trace.
        if (attempt >= 3 || this.closed) {
          this.log.error({ err, callId: call.id, outcome }, 'updating a call record failed; it keeps its earlier outcome');
          return;
        }
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  /**
   * After a moment for connected devices to say they ring, the callee's other devices
   * are pushed (high priority). A ring push that arrives after the ring window shows a
   * missed call (the push says when the call started and how long it rings).
   */
  private schedulePush(call: LiveCall, held: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.pushTimers.delete(call.id);
      // Renewed, so that a node that took it over meanwhile (this one was stalled) is the only one.
      void this.store
        .claimPush(call.id, this.clock.now(), this.pushLeaseMs, held)
        .then((claimed) => claimed && this.startPush(claimed))
        .catch((err: unknown) => this.log.warn({ err, callId: call.id }, 'claiming a ring push failed; another node will send it'));
    }, this.opts.pushGraceMs);
    timer.unref();
    this.pushTimers.set(call.id, timer);
  }

  /** Rings by push in the background (a ring retries within its window; nothing waits for it). */
  private startPush(call: LiveCall): void {
    void this.ringByPush(call).catch((err: unknown) => this.log.warn({ err, callId: call.id }, 'ringing by push failed'));
  }

  /** Sends the ring push of a call this node holds the claim of (`call`: as claimed). */
  private async ringByPush(call: LiveCall): Promise<void> {
    const busy = await this.store.busyDevicesOf(call.calleeId);
    const pushed = (count: number) =>
      void this.store
        .transition(call.id, ['ringing'], { pushedDevices: count })
        .then(() => this.endIfAllBusy(call.id))
        .catch((err: unknown) => this.log.warn({ err, callId: call.id }, 'recording a call push failed'));
    if (!this.push) {
      pushed(0);
      return;
    }
    const caller = await this.cache.profile(call.callerId);
    await this.push.ringDevices({
      userId: call.calleeId,
      excludeDevices: [...new Set([...call.ringingDevices, ...call.busyDevices, ...busy])],
      call: {
        call_id: call.id,
        conversation_id: call.conversationId,
        caller_id: call.callerId,
        caller_name: caller?.username ?? '',
        video: call.video,
        sent_at: call.startedAt,
        ring_timeout_ms: this.opts.ringTimeoutMs,
      },
      onTargets: pushed,
      stillRinging: async () => (await this.store.get(call.id))?.state === 'ringing',
    });
  }

  private cancelPush(callId: string): void {
    clearTimeout(this.pushTimers.get(callId));
    this.pushTimers.delete(callId);
  }
}

type DeviceOf = Pick<CallDevice, 'userId' | 'deviceId'>;

/** Both called each other at once: `live` rings from the other side of the same conversation. */
const isGlare = (live: LiveCall, call: LiveCall) =>
  live.state === 'ringing' && live.callerId === call.calleeId && live.calleeId === call.callerId && live.conversationId === call.conversationId;

const isCallerDevice = (call: LiveCall, from: DeviceOf) => from.userId === call.callerId && from.deviceId === call.callerDevice;
const isSelectedDevice = (call: LiveCall, from: DeviceOf) => from.userId === call.calleeId && from.deviceId === call.selectedDevice;
/** Since when the quieter end of an active call has said nothing. */
const silentSince = (call: LiveCall) => Math.min(call.callerSeenAt ?? call.connectedAt ?? 0, call.calleeSeenAt ?? call.connectedAt ?? 0);
const fromFields = (from: CallDevice) => ({ from_user_id: from.userId, from_device: from.deviceId });
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The record's `call` for the call as it stands, with `outcome`. */
function callInfo(call: LiveCall, outcome: CallOutcome): CallInfo {
  return {
    call_id: call.id,
    video: call.video,
    caller_id: call.callerId,
    outcome,
    reason: call.state === 'ended' ? call.reason : null,
    started_at: new Date(call.startedAt).toISOString(),
    answered_at: iso(call.answeredAt),
    connected_at: iso(call.connectedAt),
    ended_at: iso(call.endedAt),
    duration_ms: call.connectedAt !== null && call.endedAt !== null ? Math.max(0, call.endedAt - call.connectedAt) : null,
  };
}

/**
 * The record of a call whose state is gone: missed if it rang (it stopped ringing at its
 * ring timeout at the latest), failed if it was answered; its length is not known.
 */
function lostCallInfo(info: CallInfo, now: number, opts: Pick<CallsOptions, 'ringTimeoutMs' | 'connectTimeoutMs'>): CallInfo {
  const at = (iso: string | null, plus: number) => (iso === null ? now : Math.min(now, Date.parse(iso) + plus));
  const endedAt =
    info.outcome === 'ringing' ? at(info.started_at, opts.ringTimeoutMs) : info.outcome === 'connecting' ? at(info.answered_at, opts.connectTimeoutMs) : now;
  const missed = info.outcome === 'ringing';
  return {
    ...info,
    outcome: missed ? 'missed' : 'failed',
    reason: missed ? 'missed' : 'failed',
    ended_at: new Date(endedAt).toISOString(),
    duration_ms: null,
  };
}
