import type { CallState } from '../domain/calls.js';
import { ENDED_RETENTION_MS, type CallPatch, type CallStore, type LiveCall, type TransitionResult } from './call-store.js';
import { busyDevices, IMMUTABLE_FIELDS } from './fields.js';

export interface MemoryCallStoreOptions {
  /** What time it is (ms), for the retention of ended calls; tests move it. Default Date.now. */
  now?: () => number;
}

/**
 * Calls in this process: the one-node store. Every method runs to completion before
 * another starts (no await inside), which makes each transition a compare-and-set.
 * Calls go in and come out as copies, so a caller changing an object changes nothing here.
 * An ended call is dropped `ENDED_RETENTION_MS` after it ended, when the store is next used.
 */
export class MemoryCallStore implements CallStore {
  private readonly now: () => number;
  private readonly calls = new Map<string, LiveCall>();
  /** Ended calls → when (this store's clock) they ended, oldest first. */
  private readonly ended = new Map<string, number>();
  /** Conversation → its live call. */
  private readonly conversations = new Map<number, string>();
  /** Device → the live call it is a party of (caller device, selected callee device). */
  private readonly devices = new Map<string, string>();
  /** User → their live calls. */
  private readonly users = new Map<number, Set<string>>();

  constructor(opts: MemoryCallStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  async create(call: LiveCall): ReturnType<CallStore['create']> {
    this.purge();
    if (this.calls.has(call.id)) return { created: false, why: 'taken' };
    const inConversation = this.liveCall(this.conversations.get(call.conversationId));
    if (inConversation) return { created: false, why: 'live', live: structuredClone(inConversation) };
    const ofDevice = this.liveCall(this.devices.get(call.callerDevice));
    if (ofDevice) return { created: false, why: 'busy', live: structuredClone(ofDevice) };
    const stored = structuredClone(call);
    this.calls.set(stored.id, stored);
    if (stored.state === 'ended') {
      this.ended.set(stored.id, this.now());
      return { created: true };
    }
    this.conversations.set(stored.conversationId, stored.id);
    this.devices.set(stored.callerDevice, stored.id);
    if (stored.selectedDevice !== null) this.devices.set(stored.selectedDevice, stored.id);
    this.userCalls(stored.callerId).add(stored.id);
    this.userCalls(stored.calleeId).add(stored.id);
    return { created: true };
  }

  async get(id: string): Promise<LiveCall | undefined> {
    this.purge();
    const call = this.calls.get(id);
    return call && structuredClone(call);
  }

  async transition(id: string, from: readonly CallState[], patch: CallPatch): Promise<TransitionResult> {
    this.purge();
    const call = this.calls.get(id);
    if (!call) return { ok: false, call: undefined };
    if (!from.includes(call.state)) return { ok: false, call: structuredClone(call) };
    const changes = mutable(patch);
    if (call.state === 'ended') {
      if (changes.state !== undefined && changes.state !== 'ended') throw new Error('an ended call stays ended');
      Object.assign(call, changes);
      return { ok: true, call: structuredClone(call) };
    }
    const oldSelected = call.selectedDevice;
    const ending = changes.state === 'ended';
    if (ending) changes.deadline = null;
    Object.assign(call, changes);
    if (oldSelected !== null && oldSelected !== call.selectedDevice) this.release(oldSelected, id);
    if (ending) {
      if (this.conversations.get(call.conversationId) === id) this.conversations.delete(call.conversationId);
      this.release(call.callerDevice, id);
      if (call.selectedDevice !== null) this.release(call.selectedDevice, id);
      for (const user of [call.callerId, call.calleeId]) {
        const set = this.users.get(user);
        set?.delete(id);
        if (set?.size === 0) this.users.delete(user);
      }
      this.ended.set(id, this.now());
    } else if (changes.selectedDevice != null) {
      this.devices.set(changes.selectedDevice, id);
    }
    return { ok: true, call: structuredClone(call) };
  }

  async addDevice(id: string, list: 'ringingDevices' | 'busyDevices', device: string): Promise<LiveCall | undefined> {
    this.purge();
    const call = this.calls.get(id);
    if (!call || call.state !== 'ringing') return undefined;
    if (!call[list].includes(device)) call[list].push(device);
    return structuredClone(call);
  }

  async liveFor(userId: number): Promise<LiveCall[]> {
    this.purge();
    const out: LiveCall[] = [];
    for (const id of this.users.get(userId) ?? []) {
      const call = this.liveCall(id);
      if (call) out.push(structuredClone(call));
    }
    return out;
  }

  async busyDevicesOf(userId: number): Promise<string[]> {
    return busyDevices(await this.liveFor(userId), userId);
  }

  async due(now: number): Promise<string[]> {
    this.purge();
    const out: string[] = [];
    for (const call of this.calls.values()) {
      if (call.state !== 'ended' && call.deadline !== null && call.deadline <= now) out.push(call.id);
    }
    return out;
  }

  async claimPush(id: string, now: number, leaseMs: number, held?: number): Promise<LiveCall | undefined> {
    this.purge();
    const call = this.calls.get(id);
    if (!call || call.state !== 'ringing' || call.pushedDevices !== null) return undefined;
    const claimable = held !== undefined ? call.pushClaimedAt === held : call.pushClaimedAt === null || call.pushClaimedAt + leaseMs <= now;
    if (!claimable) return undefined;
    call.pushClaimedAt = now;
    return structuredClone(call);
  }

  async unpushed(claimedBy: number): Promise<string[]> {
    this.purge();
    const out: string[] = [];
    for (const call of this.calls.values()) {
      if (call.state === 'ringing' && call.pushedDevices === null && call.pushClaimedAt !== null && call.pushClaimedAt <= claimedBy) out.push(call.id);
    }
    return out;
  }

  isReady(): boolean {
    return true;
  }

  async close(): Promise<void> {}

  private liveCall(id: string | undefined): LiveCall | undefined {
    const call = id === undefined ? undefined : this.calls.get(id);
    return call && call.state !== 'ended' ? call : undefined;
  }

  private userCalls(userId: number): Set<string> {
    let set = this.users.get(userId);
    if (!set) this.users.set(userId, (set = new Set()));
    return set;
  }

  private release(device: string, id: string): void {
    if (this.devices.get(device) === id) this.devices.delete(device);
  }

  /** Drops ended calls past their retention (checked in full: a test's clock may go back). */
  private purge(): void {
    const now = this.now();
    for (const [id, endedAt] of this.ended) {
      if (now - endedAt < ENDED_RETENTION_MS) continue;
      this.ended.delete(id);
      this.calls.delete(id);
    }
  }
}

/** The patch without the fields a call never changes (a spread of a whole call may carry them). */
function mutable(patch: CallPatch): CallPatch {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(structuredClone(patch))) {
    if (value !== undefined && !(IMMUTABLE_FIELDS as readonly string[]).includes(key)) out[key] = value;
  }
  return out as CallPatch;
}
