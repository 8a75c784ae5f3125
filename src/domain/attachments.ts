import type { Attachment } from '../schemas/attachments.js';
import type { MessageType } from './messages.js';

/**
 * Attachment rules with no I/O: their kinds, what a message keeps of them, how they are
 * served and the one stored → wire conversion. URLs are never stored: `AttachmentLinks`
 * signs fresh ones each time an attachment is serialised.
 */

export const ATTACHMENT_KINDS = ['image', 'video', 'audio', 'file'] as const;
export type AttachmentKind = (typeof ATTACHMENT_KINDS)[number];

/** Most attachments on one message. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 10;

/** An attachment as the store reads it (the row, or the copy a message keeps). */
export interface StoredAttachment {
  id: number;
  conversation_id: number;
  uploader_id: number | null;
  kind: AttachmentKind;
  mime_type: string;
  size: number;
  name: string;
  width: number | null;
  height: number | null;
  duration_ms: number | null;
  has_thumbnail: boolean;
  created_at: string;
}

/** Signs the capability URLs of an attachment's bytes. */
export interface AttachmentLinks {
  url(id: number, variant: 'file' | 'thumbnail'): string;
}

export function toAttachment(a: StoredAttachment, links: AttachmentLinks): Attachment {
  return {
    id: a.id,
    conversation_id: a.conversation_id,
    uploader_id: a.uploader_id,
    kind: a.kind,
    mime_type: a.mime_type,
    size: a.size,
    name: a.name,
    width: a.width,
    height: a.height,
    duration_ms: a.duration_ms,
    url: links.url(a.id, 'file'),
    thumbnail_url: a.has_thumbnail ? links.url(a.id, 'thumbnail') : null,
    created_at: a.created_at,
  };
}

/** A message's type when the sender names none: its first attachment's kind. */
export const typeFromAttachments = (attachments: StoredAttachment[]): MessageType | undefined => attachments[0]?.kind;

/**
 * Whether bytes may be shown inline by a browser: only media it plays or draws. Anything
 * else (HTML, SVG, PDF, scripts) is sent as a download so that an upload can never run
 * as a page of natter's origin.
 */
export const servedInline = (a: { kind: AttachmentKind }): boolean => a.kind !== 'file';

/**
 * `Content-Disposition` for a download: the original name, ASCII-safe in `filename` and
 * exact in `filename*` (RFC 6266 / 5987).
 */
export function contentDisposition(a: { kind: AttachmentKind; name: string }): string {
  const ascii = a.name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(a.name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${servedInline(a) ? 'inline' : 'attachment'}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
