/** Every table the migrations create (schema_migrations included), sorted. */
export const ALL_TABLES = [
  'attachments',
  'conversation_invites',
  'conversation_participants',
  'conversations',
  'message_edits',
  'message_hidden',
  'message_reactions',
  'messages',
  'push_devices',
  'push_outbox',
  'schema_migrations',
  'sessions',
  'user_blocks',
  'users',
];
