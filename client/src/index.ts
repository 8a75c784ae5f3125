export { CALL_KEEPALIVE_MS, Calls } from './calls.js';
export type { CallCandidate, CallCandidateInit, CallEndReason, CallFrameType, CallHangupReason, CallRejectReason, CallTimeouts, IceServer, SdpType, TurnCredentials } from './calls.js';
export { NatterClient } from './client.js';
export type {
  ConnectionState,
  HistoryPage,
  HistoryQuery,
  LoginBody,
  NatterClientOptions,
  Presence,
  RegisterBody,
  SendInput,
  WebSocketConstructor,
  WebSocketLike,
} from './client.js';
export { NatterError } from './errors.js';
export { indexedDbOutboxStore, memoryOutboxStore } from './outbox.js';
export type { IdbFactoryLike, OutboxEntry, OutboxStore } from './outbox.js';
export { localStorageTokenStore, memoryTokenStore } from './session.js';
export type { StorageLike, TokenStore, Tokens } from './session.js';
export type { UploadOptions } from './upload.js';
export type * from './types.js';
