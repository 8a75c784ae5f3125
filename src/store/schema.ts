import type { ColumnType, Generated } from 'kysely';
import type { AttachmentKind, StoredAttachment } from '../domain/attachments.js';

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
}

export interface ConversationsTable {
  id: Id;
  type: 'direct' | 'group';
  name: string | null;
  avatar: string | null;
  created_by: number | null;
  direct_key: string | null;
  last_seq: Generated<number>;
  /** The conversation's latest change (see migrations/000004). */
  last_mod_seq: Generated<number>;
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
  muted: Generated<boolean>;
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
  type: Generated<'text' | 'image' | 'video' | 'audio' | 'file'>;
  content: Generated<string>;
  media_url: string | null;
  reply_to_id: number | null;
  edited_at: Date | null;
  deleted_at: Date | null;
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
  schema_migrations: SchemaMigrationsTable;
}
