import type { ColumnType, Generated } from 'kysely';
import type { AttachmentKind, StoredAttachment } from '../domain/attachments.js';
import type { PushPlatform, WebPushSubscription } from '../domain/devices.js';
import type { SystemEvent } from '../domain/system-messages.js';
import type { CallInfo } from '../domain/calls.js';

/** Kysely's view of the tables in migrations/. Only src/store/ imports this. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Id = Generated<number>;

export interface UsersTable {
  id: Id;
  username: string;
  email: string;
  password_hash: string;
  phone: string | null;
  avatar: string | null;
  status: Generated<'online' | 'offline'>;
  last_seen: Timestamp;
  last_seen_visibility: Generated<'everyone' | 'contacts' | 'nobody'>;
  share_read_receipts: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SessionsTable {
  id: string;
  user_id: number;
  refresh_hash: string;
  previous_hash: string | null;
  user_agent: string | null;
  created_at: Timestamp;
  refreshed_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Date | null;
  /** The session as a device other users may see (calls): random, public, never the id. */
  device_id: Generated<string>;
}

export interface ConversationsTable {
  id: Id;
  type: 'direct' | 'group';
  name: string | null;
  description: string | null;
  avatar: string | null;
  only_admins_can_post: Generated<boolean>;
  only_admins_can_edit_info: Generated<boolean>;
  only_admins_can_add: Generated<boolean>;
  history_visible_to_new_members: Generated<boolean>;
  created_by: number | null;
  direct_key: string | null;
  last_seq: Generated<number>;
  /** The conversation's latest change (see migrations/000004). */
  last_mod_seq: Generated<number>;
  /** Grows with every change of members, roles or who may post (see migrations/000006). */
  roster_version: Generated<number>;
  last_message_at: Date | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ConversationParticipantsTable {
  conversation_id: number;
  user_id: number;
  role: Generated<'owner' | 'admin' | 'member'>;
  last_read_seq: Generated<number>;
  last_delivered_seq: Generated<number>;
  /** The member sees the messages after this seq (see migrations/000005). */
  visible_from_seq: Generated<number>;
  muted_until: Date | null;
  archived: Generated<boolean>;
  pinned_at: Date | null;
  joined_at: Timestamp;
}

export interface MessagesTable {
  id: Id;
  conversation_id: number;
  seq: number;
  /** The conversation's mod_seq of this message's latest change. */
  mod_seq: number;
  sender_id: number | null;
  client_id: string | null;
  type: Generated<'text' | 'image' | 'video' | 'audio' | 'file' | 'system' | 'call'>;
  content: Generated<string>;
  media_url: string | null;
  reply_to_id: number | null;
  edited_at: Date | null;
  deleted_at: Date | null;
  /** What a system message tells (null for every other type), see migrations/000005. */
  system: ColumnType<SystemEvent | null, string | null | undefined, string | null>;
  /** A call's record (type `call` only), see migrations/000009 and domain/calls.ts. */
  call: ColumnType<CallInfo | null, string | null | undefined, string | null>;
  /** What the message shows of its attachments (null: none), see domain/attachments.ts. */
  attachments: ColumnType<StoredAttachment[] | null, string | null | undefined, string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface AttachmentsTable {
  id: Id;
  conversation_id: number;
  uploader_id: number | null;
  message_id: number | null;
  position: number | null;
  kind: AttachmentKind;
  mime_type: string;
  size: number;
  name: string;
  width: number | null;
  height: number | null;
  duration_ms: number | null;
  storage_key: string;
  thumbnail_key: string | null;
  thumbnail_size: number | null;
  upload_id: string | null;
  upload_length: number | null;
  created_at: Timestamp;
}

export interface MessageEditsTable {
  id: Id;
  conversation_id: number;
  message_id: number;
  /** The content this edit replaced. */
  content: string;
  edited_at: Timestamp;
}

export interface MessageReactionsTable {
  conversation_id: number;
  message_id: number;
  user_id: number;
  emoji: string;
  created_at: Timestamp;
}

export interface MessageHiddenTable {
  conversation_id: number;
  user_id: number;
  message_id: number;
  mod_seq: number;
  hidden_at: Timestamp;
}

export interface ConversationInvitesTable {
  code: string;
  conversation_id: number;
  created_by: number | null;
  expires_at: Date | null;
  max_uses: number | null;
  uses: Generated<number>;
  revoked_at: Date | null;
  created_at: Timestamp;
}

export interface UserBlocksTable {
  blocker_id: number;
  blocked_id: number;
  created_at: Timestamp;
}

export interface PushDevicesTable {
  id: Id;
  user_id: number;
  session_id: string;
  platform: PushPlatform;
  /** fcm and webhook: the registration token (null for webpush). */
  token: string | null;
  /** webpush: the subscription with its keys (null otherwise). */
  subscription: ColumnType<WebPushSubscription | null, string | null | undefined, string | null>;
  /** The token, or the subscription's endpoint: unique per platform. */
  address: string;
  locale: string | null;
  app_version: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A notification waiting for one device: every message of its conversation up to last_seq. */
export interface PushOutboxTable {
  conversation_id: number;
  device_id: number;
  user_id: number;
  first_seq: number;
  last_seq: number;
  due_at: Timestamp;
  attempts: Generated<number>;
  claim: string | null;
}

export interface SchemaMigrationsTable {
  version: number;
  dirty: boolean;
}

export interface DB {
  users: UsersTable;
  sessions: SessionsTable;
  conversations: ConversationsTable;
  conversation_participants: ConversationParticipantsTable;
  messages: MessagesTable;
  attachments: AttachmentsTable;
  message_edits: MessageEditsTable;
  message_reactions: MessageReactionsTable;
  message_hidden: MessageHiddenTable;
  conversation_invites: ConversationInvitesTable;
  user_blocks: UserBlocksTable;
  push_devices: PushDevicesTable;
  push_outbox: PushOutboxTable;
  schema_migrations: SchemaMigrationsTable;
}
