import { rm } from 'node:fs/promises';
import path from 'node:path';
import { FileStore } from '@tus/file-store';
import { Server, type Upload } from '@tus/server';
import { AppError, type ErrorCode } from '../../domain/errors.js';
import { AttachmentReply, type Attachment } from '../../schemas/attachments.js';
import { errorResponses } from '../../schemas/common.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken, caller } from '../auth.js';
import { HTTP_STATUS } from '../errors.js';
import type { AppServer, RouteContext } from '../server.js';
import { fileName } from './attachments.js';
import { Type } from 'typebox';

/** Where partial resumable uploads wait, beside the blob store's staging folder. */
export const tusDirectory = (dataDir: string) => path.join(dataDir, 'uploads', 'tus');

/** The tus headers browsers must be allowed to send and read (CORS). */
export const TUS_REQUEST_HEADERS = ['Tus-Resumable', 'Upload-Length', 'Upload-Offset', 'Upload-Metadata', 'Upload-Defer-Length'];
export const TUS_RESPONSE_HEADERS = ['Location', 'Tus-Resumable', 'Upload-Offset', 'Upload-Length', 'Upload-Expires', 'Natter-Attachment-Id'];

/** natter's code for a status tus answers with by itself (undefined: our fault, internal). */
function tusErrorCode(status: number): ErrorCode | undefined {
  if (status === 413) return 'payload_too_large';
  if (status === 404 || status === 410) return 'not_found';
  if (status === 409) return 'offset_mismatch';
  return status < 500 ? 'validation_failed' : undefined;
}

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
    // Location: under PUBLIC_URL when set (a proxy may mount natter under a path), else root-relative.
    relativeLocation: ctx.config.publicUrl === undefined,
    ...(ctx.config.publicUrl === undefined
      ? {}
      : { generateUrl: (_req: Request, u: { path: string; id: string }) => `${ctx.config.publicUrl}${u.path}/${u.id}` }),
    respectForwardedHeaders: ctx.config.trustProxy,
    maxSize: attachments.maxBytes,
    exposedHeaders: ['Natter-Attachment-Id'],
    // tus writes its own CORS headers on the requests it answers: the same origins as the rest.
    allowedOrigins: ctx.config.corsOrigins === true ? undefined : ctx.config.corsOrigins,
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
      const raw = upload.metadata?.conversation_id ?? '';
      // Decimal digits only: " 1", "1e0" or "0x1" are not conversation ids.
      if (!/^[1-9][0-9]{0,15}$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
        throw refuse('validation_failed', 'Upload-Metadata must carry conversation_id (a conversation id)');
      }
      try {
        await attachments.requireUploader(userId, Number(raw));
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
        headers: { 'Natter-Attachment-Id': attachment.id },
        body: JSON.stringify({ attachment }),
      };
    },
    // tus's own refusals (size, offset, gone) in natter's error body.
    onResponseError: (_req, err) => {
      if (err instanceof TusRefusal) return undefined;
      const status = 'status_code' in err ? err.status_code : 500;
      const code = tusErrorCode(status);
      if (code === undefined) {
        app.log.error({ err }, 'resumable upload failed');
        return { status_code: 500, body: JSON.stringify({ error: 'Internal server error', code: 'internal' }) };
      }
      const message = 'body' in err && typeof err.body === 'string' ? err.body.trim() : String((err as Error).message);
      return { status_code: HTTP_STATUS[code], body: JSON.stringify({ error: message, code }) };
    },
  });

  /**
   * A finished upload becomes an attachment, once: a client retrying its last PATCH while
   * the first is still being processed waits for the same result. Its files are removed
   * once it is an attachment, or when it can never be one (an AppError: the uploader left,
   * say); after any other failure (the database or S3 away for a moment) they stay, so the
   * client's retry of the last PATCH finishes it.
   */
  const finishing = new Map<string, Promise<Attachment>>();
  const finish = (upload: Upload): Promise<Attachment> => {
    const running = finishing.get(upload.id);
    if (running) return running;
    const meta = upload.metadata ?? {};
    const file = path.join(datastore.directory, upload.id);
    const forget = () =>
      Promise.all([rm(file, { force: true }), datastore.configstore.delete(upload.id)]).catch((err: unknown) =>
        app.log.warn({ err, upload: upload.id }, 'could not remove a finished upload'),
      );
    const work = attachments
      .create(Number(meta.user_id), Number(meta.conversation_id), file, fileName(meta.filename ?? meta.name ?? undefined), {
        uploadId: upload.id,
        uploadLength: upload.size,
        keepStagedOnFailure: true,
      })
      .then(
        async (attachment) => {
          await forget();
          return attachment;
        },
        async (err: unknown) => {
          if (err instanceof AppError) await forget();
          throw err;
        },
      )
      .finally(() => finishing.delete(upload.id));
    finishing.set(upload.id, work);
    return work;
  };

  /**
   * HEAD and PATCH on an upload that is already an attachment (its files are gone, so tus
   * would say 404 and a client would send the whole file again): a client that lost the
   * last answer learns it is complete — HEAD gives the full offset, the last PATCH again
   * gives the attachment. Undefined: not such an upload (or not the caller's); tus answers.
   */
  const afterTheEnd = async (request: FastifyRequest, uploadId: string) => {
    if (await datastore.getUpload(uploadId).then(() => true, () => false)) return undefined;
    const token = bearerToken(request);
    if (!token) return undefined;
    const userId = await accounts.authenticate(token).then((c) => c.userId, () => undefined);
    if (userId === undefined) return undefined;
    await finishing.get(uploadId)?.catch(() => {});
    const finished = await attachments.finishedUpload(userId, uploadId);
    if (!finished) return undefined;
    return (reply: FastifyReply) => {
      reply
        .header('Tus-Resumable', '1.0.0')
        .header('Upload-Offset', finished.length)
        .header('Upload-Length', finished.length)
        .header('Natter-Attachment-Id', finished.attachment.id)
        .header('Cache-Control', 'no-store');
      if (request.method === 'HEAD') return reply.code(200).send();
      if (request.headers['upload-offset'] !== String(finished.length)) {
        throw new AppError('offset_mismatch', `The upload is complete: all ${finished.length} bytes are here`);
      }
      return reply.code(200).send({ attachment: finished.attachment });
    };
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
          const id = (request.params as { uploadId?: string }).uploadId;
          // An upload finished inside its POST (bytes in the POST, or none at all) would be
          // answered without its Location: the bytes go in PATCHes; empty files by multipart.
          if (request.method === 'POST') {
            const carriesBytes = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
            if (carriesBytes || request.headers['upload-length'] === '0') {
              throw new AppError('validation_failed', 'Create the upload with an empty POST and a non-zero Upload-Length, then PATCH the bytes', {
                field: 'upload-length',
              });
            }
          }
          if (id !== undefined && (request.method === 'HEAD' || request.method === 'PATCH')) {
            const finished = await afterTheEnd(request, id);
            if (finished) return finished(reply);
          }
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
    async (request) => {
      // One still being turned into an attachment: its answer, when it is ready.
      await finishing.get(request.params.uploadId)?.catch(() => {});
      return { attachment: await attachments.fromUpload(caller(request).userId, request.params.uploadId) };
    },
  );

  // Partial uploads nobody finished are deleted once expired (per node: they are local).
  const expiry = setInterval(() => {
    tus.cleanUpExpiredUploads().catch((err: unknown) => app.log.warn({ err }, 'expired upload cleanup failed'));
  }, 10 * 60_000).unref();
  app.addHook('onClose', async () => clearInterval(expiry));
}
