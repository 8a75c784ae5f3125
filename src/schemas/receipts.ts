import { Type, type Static } from 'typebox';
import { OrNull, Seq, stringEnum } from './common.js';

/** Delivered/read pointers and unread counts on the wire. */

export const RECEIPT_STATUSES = ['sent', 'delivered', 'read'] as const;
export type MessageStatus = (typeof RECEIPT_STATUSES)[number];

export const AdvanceBody = Type.Optional(
  Type.Object({
    seq: Type.Optional(OrNull(Seq({ description: 'Up to and including this seq (absent or null: the latest).' }))),
  }),
);

export const ReceiptStateSchema = Type.Object({
  conversation_id: Type.Integer(),
  last_delivered_seq: Type.Integer(),
  last_read_seq: Type.Integer(),
  unread_count: Type.Integer(),
});
export type ReceiptState = Static<typeof ReceiptStateSchema>;

export const MessageReceiptsSchema = Type.Object({
  message_id: Type.Integer(),
  seq: Type.Integer(),
  receipts: Type.Array(Type.Object({ user_id: Type.Integer(), status: stringEnum(RECEIPT_STATUSES) })),
});
export type MessageReceipts = Static<typeof MessageReceiptsSchema>;

export const UnreadSummarySchema = Type.Object({
  total: Type.Integer(),
  conversations: Type.Array(Type.Object({ conversation_id: Type.Integer(), unread_count: Type.Integer() })),
});
export type UnreadSummary = Static<typeof UnreadSummarySchema>;
