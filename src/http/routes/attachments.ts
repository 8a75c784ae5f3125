import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import parseRange from 'range-parser';
import { AppError } from '../../domain/errors.js';
import { AttachmentParams, AttachmentReply, SignedUrlQuery } from '../../schemas/attachments.js';
import { ConversationParams, errorResponses } from '../../schemas/common.js';
import type { Download, Reader } from '../../services/attachments.js';
import { bearerToken, caller } from '../auth.js';
import type { AppServer, RouteContext } from '../server.js';

/** Room for the multipart framing around the file: boundaries and part headers. */
const MULTIPART_OVERHEAD = 64 * 1024;
/** How long a presigned S3 URL a download redirects to stays valid. */
const REDIRECT_TTL_SECONDS = 300;

const Binary = { description: 'The bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };

export async function attachmentRoutes(app: AppServer, ctx: RouteContext): Promise<void> {
  const { attachments } = ctx.services;
  const security = [{ bearer: [] }];

  // multipart/form-data is read by this route alone: everywhere else it stays a 415.
  await app.register(async (plain) => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>();
    await scope.register(multipart, {
      limits: { fileSize: attachments.maxBytes, files: 1, fields: 0, parts: 1, headerPairs: 100 },
    });
    scope.post(
      '/conversations/:id/attachments',
      {
        preHandler: ctx.requireAuth,
        schema: {
          tags: ['attachments'],
          summary: 'Upload a file into a conversation (send it with a message as `attachment_ids`)',
          description:
            '`multipart/form-data` with one part named `file`; its file name is kept. The type is sniffed ' +
            'from the bytes. Images are measured and thumbnailed, and stored without their location and ' +
            'camera metadata. Larger than `UPLOAD_MAX_BYTES`: 413 and nothing is kept. An attachment not ' +
            'sent within `UPLOAD_ORPHAN_TTL` is deleted. For large files on unreliable networks use the ' +
            'resumable (tus) endpoint `/uploads`.',
          security,
          consumes: ['multipart/form-data'],
          params: ConversationParams,
          response: { 201: AttachmentReply, ...errorResponses(400, 401, 404, 413, 415) },
        },
      },
      async (request, reply) => {
        const me = caller(request).userId;
        const conversationId = request.params.id;
        // Refused before a byte of the body is read: not a member, or plainly too large.
        await attachments.requireUploader(me, conversationId);
        const declared = Number(request.headers['content-length'] ?? 0);
        if (declared > attachments.maxBytes + MULTIPART_OVERHEAD) throw attachments.tooLarge();
        if (!request.isMultipart()) {
          throw new AppError('unsupported_media_type', 'Send the file as multipart/form-data with one part named "file"');
        }
        // busboy's refusals of a body that is not multipart (no boundary, bad framing) carry no status.
        const part = await request.file().catch((err: unknown) => {
          if ((err as { statusCode?: unknown }).statusCode !== undefined) throw err;
          throw new AppError('validation_failed', 'the body is not valid multipart/form-data', { field: 'file' });
        });
        if (!part || part.type !== 'file' || part.fieldname !== 'file') {
          throw new AppError('validation_failed', 'the body must have one file part named "file"', { field: 'file' });
        }
        const staged = await attachments.stage(part.file, () => part.file.truncated);
        const attachment = await attachments.create(me, conversationId, staged, fileName(part.filename));
        return reply.code(201).send({ attachment });
      },
    );
  });

  for (const variant of ['file', 'thumbnail'] as const) {
    app.get(
      variant === 'file' ? '/attachments/:id' : '/attachments/:id/thumbnail',
      {
        schema: {
          tags: ['attachments'],
          summary: variant === 'file' ? 'An attachment\'s bytes' : 'An image attachment\'s WebP thumbnail',
          description:
            'With the `expires` and `signature` of the attachment\'s `url` (no Authorization header needed), ' +
            'or with a bearer token of a member who can see it. Supports `Range` (206), `ETag` / ' +
            '`If-None-Match` (304). Only images, video and audio are served inline; every other file as a ' +
            'download. Expired link: 403 `url_expired`; altered: 403 `forbidden`.',
          security: [{}, { bearer: [] }],
          params: AttachmentParams,
          querystring: SignedUrlQuery,
          response: { 200: Binary, 206: Binary, ...errorResponses(400, 401, 403, 404, 416) },
        },
      },
      async (request, reply) => {
        const reader = await readerOf(request, ctx);
        const download = await attachments.download(request.params.id, variant, reader);
        return serve(request, reply, download, ctx);
      },
    );
  }
}

/** The signed URL's holder, else the signed-in caller (401 without either). */
async function readerOf(
  request: FastifyRequest<{ Querystring: { expires?: number; signature?: string } }>,
  ctx: RouteContext,
): Promise<Reader> {
  const { expires, signature } = request.query;
  if (signature !== undefined || expires !== undefined) {
    if (signature === undefined || expires === undefined) {
      throw new AppError('forbidden', 'A signed link needs both expires and signature');
    }
    return { expires, signature };
  }
  const token = bearerToken(request);
  if (!token) throw new AppError('unauthorized', 'Use the attachment\'s signed url, or send Authorization: Bearer <token>');
  return { userId: (await ctx.services.accounts.authenticate(token)).userId };
}

/**
 * Sends the bytes with what players and caches need: a strong ETag, one byte range on
 * request, and headers that keep a browser from running an upload as a page (nosniff,
 * downloads for anything not media, a sandboxing CSP). The caching headers go on answers
 * with the bytes only, never on a refusal. HEAD answers the same headers and opens
 * nothing.
 */
async function serve(request: FastifyRequest, reply: FastifyReply, d: Download, ctx: RouteContext) {
  const { attachments } = ctx.services;
  const safety = () => reply.header('X-Content-Type-Options', 'nosniff').header('Content-Security-Policy', "default-src 'none'; sandbox");

  const elsewhere = await attachments.redirect(d, REDIRECT_TTL_SECONDS);
  if (elsewhere) return safety().header('Cache-Control', 'private, no-store').redirect(elsewhere, 302);

  const cacheable = () =>
    safety()
      .header('Cache-Control', 'private, max-age=3600')
      .header('ETag', d.etag)
      .header('Content-Type', d.mimeType)
      .header('Content-Disposition', d.disposition)
      .header('Accept-Ranges', 'bytes');
  if (matchesEtag(request.headers['if-none-match'], d.etag)) return cacheable().code(304).send();

  const ifRange = request.headers['if-range'];
  const rangeHeader = request.headers.range && (ifRange === undefined || ifRange === d.etag) ? request.headers.range : undefined;
  const ranges = rangeHeader ? parseRange(d.size, rangeHeader, { combine: true }) : undefined;
  if (ranges === -1) {
    reply.header('Content-Range', `bytes */${d.size}`);
    throw new AppError('range_not_satisfiable', `The range starts past the end of the ${d.size}-byte file`);
  }
  // A malformed header or several ranges: the whole file, as RFC 9110 allows.
  const range = Array.isArray(ranges) && ranges.type === 'bytes' && ranges.length === 1 ? ranges[0]! : undefined;
  const stream = request.method === 'HEAD' ? null : await attachments.bytes(d, range);
  cacheable();
  if (range) {
    reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${d.size}`);
    reply.header('Content-Length', range.end - range.start + 1);
  } else {
    reply.header('Content-Length', d.size);
  }
  // HEAD: an empty stream, so that Fastify keeps the Content-Length set above.
  return reply.send(stream ?? Readable.from([]));
}

/** `If-None-Match`: `*`, or a list of tags, weak ones included (RFC 9110 §13.1.2). */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/**
 * The client's file name without any path, control characters, direction overrides (which
 * make `invoice\u202Efdp.exe` display as `invoiceexe.pdf`) or excess length.
 */
export function fileName(raw: string | undefined): string {
  const base = (raw ?? '').split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '').trim().slice(0, 255);
  return clean === '' || clean === '.' || clean === '..' ? 'file' : clean;
}
