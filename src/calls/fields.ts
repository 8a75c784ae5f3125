import type { LiveCall } from './call-store.js';

/** Every field of a call, in the order the stores write them. */
export const CALL_FIELDS = [
  'id',
  'conversationId',
  'messageId',
  'seq',
  'callerId',
  'callerDevice',
  'calleeId',
  'video',
  'sdp',
  'state',
  'startedAt',
  'answeredAt',
  'connectedAt',
  'endedAt',
  'selectedDevice',
  'answerSdp',
  'reason',
  'glare',
  'ringingDevices',
  'busyDevices',
  'callerSeenAt',
  'calleeSeenAt',
  'pushedDevices',
  'pushClaimedAt',
  'deadline',
] as const satisfies readonly (keyof LiveCall)[];

// A field added to LiveCall but not listed above fails to compile here.
const complete: Record<Exclude<keyof LiveCall, (typeof CALL_FIELDS)[number]>, never> = {};
void complete;

/** Fields fixed when the call is created; a transition's patch leaves them alone. */
export const IMMUTABLE_FIELDS = ['id', 'conversationId', 'callerId', 'calleeId', 'callerDevice'] as const satisfies readonly (keyof LiveCall)[];

/** Devices of `userId` that are a party of one of these live calls: its caller device, its selected callee device. */
export function busyDevices(calls: readonly LiveCall[], userId: number): string[] {
  const devices = new Set<string>();
  for (const call of calls) {
    if (call.callerId === userId) devices.add(call.callerDevice);
    if (call.calleeId === userId && call.selectedDevice !== null) devices.add(call.selectedDevice);
  }
  return [...devices];
}
