import { Type, type Static } from 'typebox';
import { ATTACHMENT_KINDS } from '../domain/attachments.js';
import { Id, nullable, stringEnum, Timestamp } from './common.js';

/** Attachments on the wire: the upload's reply and each entry of a message's `attachments`. */

const NullableInt = nullable<number>(Type.Integer());

export const AttachmentSchema = Type.Object(
  {
    id: Type.Integer(),
    conversation_id: Type.Integer(),
    uploader_id: NullableInt,
    kind: stringEnum(ATTACHMENT_KINDS),
    mime_type: Type.String({ description: 'Sniffed from the bytes; the client\'s Content-Type is never trusted.' }),
    size: Type.Integer({ description: 'Bytes, as stored (a photo is stored without its location and camera metadata).' }),
    name: Type.String({ description: 'The file name the client gave.' }),
    width: NullableInt,
    height: NullableInt,
    duration_ms: NullableInt,
    url: Type.String({
      description: 'Signed, expiring URL of the bytes: works without an Authorization header (see ATTACHMENT_URL_TTL).',
    }),
    thumbnail_url: nullable<string>(Type.String({ description: 'A small WebP preview (images; video posters with ffmpeg).' })),
    created_at: Timestamp(),
  },
  { title: 'Attachment' },
);
export type Attachment = Static<typeof AttachmentSchema>;

export const AttachmentReply = Type.Object({ attachment: AttachmentSchema });

export const AttachmentParams = Type.Object({ id: Id() });

/** The signature of a capability URL; absent when the caller sends a bearer token instead. */
export const SignedUrlQuery = Type.Object({
  expires: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 40, description: 'Expiry, Unix seconds.' })),
  signature: Type.Optional(Type.String({ maxLength: 128 })),
});

/** `attachment_ids` of a send (REST body and WebSocket `message` frame). */
export const AttachmentIds = () =>
  Type.Array(Id(), {
    minItems: 1,
    maxItems: 10,
    uniqueItems: true,
    description: 'Attachments this sender uploaded into this conversation and has not sent yet (1–10), in order.',
  });
