import type { User } from './users.js';

export const MESSAGE_TYPES = ['text', 'image', 'video', 'audio', 'file'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
export type MessageStatus = 'sent' | 'delivered' | 'read';
export type Role = 'owner' | 'admin' | 'member';

/** A message as every client sees it (REST and WebSocket alike). */
export interface Message {
  id: number;
  conversation_id: number;
  /** Position in the conversation: 1, 2, 3 … with no gaps. */
  seq: number;
  sender_id: number | null;
  sender: User | null;
  content: string;
  type: MessageType;
  /** As seen by the requester. */
  status: MessageStatus;
  media_url: string | null;
  reply_to_id: number | null;
  client_id: string | null;
  edited_at: string | null;
  deleted_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface Participant extends User {
  role: Role;
}

export interface Conversation {
  id: number;
  type: 'direct' | 'group';
  name: string | null;
  avatar: string | null;
  created_by: number | null;
  last_seq: number;
  unread_count: number;
  participants: Participant[];
  /** The latest message as a list of at most one (clients read messages[0] as the preview). */
  messages: Message[];
  last_message_at: string | null;
  created_at: string;
  updated_at: string;
}

/** A direct conversation's unique key: the two user ids, smaller first. */
export const directKey = (a: number, b: number) => (a < b ? `${a}:${b}` : `${b}:${a}`);
