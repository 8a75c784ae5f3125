import path from 'node:path';
import { FileStore } from '@tus/file-store';
import { Server, type Upload } from '@tus/server';
import { AppError, type ErrorCode } from '../../domain/errors.js';
import { AttachmentReply } from '../../schemas/attachments.js';
import { errorResponses } from '../../schemas/common.js';
import { caller } from '../auth.js';
import { HTTP_STATUS } from '../errors.js';
import type { AppServer, RouteContext } from '../server.js';
import { fileName } from './attachments.js';
import { Type } from 'typebox';

/** Where partial resumable uploads wait, beside the blob store's staging folder. */
export const tusDirectory = (dataDir: string) => path.join(dataDir, 'uploads', 'tus');

/** The tus headers browsers must be allowed to send and read (CORS). */
export const TUS_REQUEST_HEADERS = ['Tus-Resumable', 'Upload-Length', 'Upload-Offset', 'Upload-Metadata', 'Upload-Defer-Length'];
export const TUS_RESPONSE_HEADERS = ['Location', 'Tus-Resumable', 'Upload-Offset', 'Upload-Length', 'Upload-Expires', 'Natter-Attachment-Id'];

/** A tus hook's refusal (tus answers `status_code` with `body`), in natter's error body. */
class TusRefusal extends Error {
  readonly status_code: number;
  readonly body: string;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.status_code = HTTP_STATUS[code];
    this.body = JSON.stringify({ error: message, code });
  }
}
const refuse = (code: ErrorCode, message: string) => new TusRefusal(code, message);

/**
 * Resumable uploads (tus 1.0, with the creation, termination and expiration extensions),
 * for files too big to send in one request over an unreliable network:
 *
 *   POST   /uploads          Upload-Length, Upload-Metadata: conversation_id, filename → 201 Location
 *   PATCH  /uploads/:uploadId   Upload-Offset + bytes (repeat after a cut from HEAD's offset)
 *   HEAD   /uploads/:uploadId   how much the server has
 *   GET    /uploads/:uploadId   natter's own: the attachment the finished upload became
 *
 * The PATCH that completes the upload turns it into an attachment exactly as a multipart
 * upload would (inspected, stored) and answers 200 with `{attachment}` (and a
 * `Natter-Attachment-Id` header); should that answer be lost, `GET /uploads/:uploadId`
 * gives the same attachment. Every request needs the uploader's bearer token; an upload
 * is its uploader's alone (404 for anyone else). Partial uploads live on the node's disk
 * (route a client's requests for one upload to one node, or share DATA_DIR) and expire
 * after UPLOAD_ORPHAN_TTL.
 */
export function uploadRoutes(app: AppServer, ctx: RouteContext): void {
  const { attachments, accounts } = ctx.services;
  const datastore = new FileStore({
    directory: tusDirectory(ctx.config.dataDir),
    expirationPeriodInMilliseconds: ctx.config.uploadOrphanTtl * 1000,
  });

  const uploaderOf = async (req: Request): Promise<number> => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get('authorization') ?? '');
    if (!m) throw refuse('unauthorized', 'Missing Authorization: Bearer token');
    try {
      return (await accounts.authenticate(m[1]!)).userId;
    } catch (err) {
      if (err instanceof AppError) throw refuse(err.code, err.message);
      throw err;
    }
  };

  const tus = new Server({
    path: `${app.prefix}/uploads`,
    datastore,
    relativeLocation: true,
    respectForwardedHeaders: ctx.config.trustProxy,
    maxSize: attachments.maxBytes,
    exposedHeaders: ['Natter-Attachment-Id'],
    disableTerminationForFinishedUploads: true,
    // Every request, before tus touches the upload: the caller must be its uploader.
    onIncomingRequest: async (req, uploadId) => {
      const userId = await uploaderOf(req);
      if (req.method === 'POST') return;
      const upload = await datastore.getUpload(uploadId).catch(() => undefined);
      if (!upload || upload.metadata?.user_id !== String(userId)) throw refuse('not_found', 'Upload not found');
    },
    onUploadCreate: async (req, upload) => {
      const userId = await uploaderOf(req);
      const conversationId = Number(upload.metadata?.conversation_id);
      if (!Number.isSafeInteger(conversationId) || conversationId < 1) {
        throw refuse('validation_failed', 'Upload-Metadata must carry conversation_id (a conversation id)');
      }
      try {
        await attachments.requireUploader(userId, conversationId);
      } catch (err) {
        if (err instanceof AppError) throw refuse(err.code, err.message);
        throw err;
      }
      return { metadata: { ...upload.metadata, user_id: String(userId) } };
    },
    onUploadFinish: async (_req, upload) => {
      const attachment = await finish(upload).catch((err: unknown) => {
        if (err instanceof AppError) throw refuse(err.code, err.message);
        throw err;
      });
      return {
        status_code: 200,
        headers: { 'Content-Type': 'application/json; charset=utf-8', 'Natter-Attachment-Id': attachment.id },
        body: JSON.stringify({ attachment }),
      };
    },
  });

  /** A finished upload becomes an attachment; the partial upload's files are consumed. */
  const finish = async (upload: Upload) => {
    const meta = upload.metadata ?? {};
    const file = path.join(datastore.directory, upload.id);
    try {
      return await attachments.create(
        Number(meta.user_id),
        Number(meta.conversation_id),
        file,
        fileName(meta.filename ?? meta.name ?? undefined),
        upload.id,
      );
    } finally {
      await datastore.remove(upload.id).catch(() => {});
    }
  };

  app.register(async (scope) => {
    // tus bodies are the file's bytes: left unread for tus to stream.
    scope.addContentTypeParser('application/offset+octet-stream', (_request, _payload, done) => done(null));
    const hand = { schema: { hide: true } };
    for (const url of ['/uploads', '/uploads/:uploadId']) {
      scope.route({
        method: url === '/uploads' ? ['POST'] : ['PATCH', 'HEAD', 'DELETE'],
        url,
        ...hand,
        handler: async (request, reply) => {
          reply.hijack();
          await tus.handle(request.raw, reply.raw);
        },
      });
    }
  });

  app.get(
    '/uploads/:uploadId',
    {
      preHandler: ctx.requireAuth,
      // HEAD on an upload is tus's (how much it holds), not this route's.
      exposeHeadRoute: false,
      schema: {
        tags: ['attachments'],
        summary: 'The attachment a finished resumable (tus) upload became',
        description: 'POST/PATCH/HEAD/DELETE on `/uploads` speak tus 1.0; see docs/protocol.md.',
        security: [{ bearer: [] }],
        params: Type.Object({ uploadId: Type.String({ pattern: '^[0-9a-f]{32}$' }) }),
        response: { 200: AttachmentReply, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => ({ attachment: await attachments.fromUpload(caller(request).userId, request.params.uploadId) }),
  );

  // Partial uploads nobody finished are deleted once expired (per node: they are local).
  const expiry = setInterval(() => {
    tus.cleanUpExpiredUploads().catch((err: unknown) => app.log.warn({ err }, 'expired upload cleanup failed'));
  }, 10 * 60_000).unref();
  app.addHook('onClose', async () => clearInterval(expiry));
}
