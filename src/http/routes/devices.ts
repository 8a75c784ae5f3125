import { Type } from 'typebox';
import type { AppServer, RouteContext } from '../server.js';
import { caller } from '../auth.js';
import { errorResponses, Id } from '../../schemas/common.js';
import { DeviceSchema, RegisterDeviceBody } from '../../schemas/devices.js';
import { MAX_DEVICES_PER_SESSION } from '../../domain/devices.js';

export function deviceRoutes(app: AppServer, ctx: RouteContext): void {
  const { devices } = ctx.services;
  const secured = { preHandler: ctx.requireAuth };
  const security = [{ bearer: [] }];

  app.post(
    '/devices',
    {
      ...secured,
      schema: {
        tags: ['devices'],
        summary: 'Register a push device for the current session',
        description:
          '`fcm` and `webhook` take a `token`, `webpush` a `subscription` ({endpoint, keys: {p256dh, auth}}, as ' +
          'the browser\'s PushSubscription gives it). Answers 201 with a new device, or 200 when the token (or ' +
          'endpoint) is already registered: that device is updated and now belongs to this session and user, ' +
          'wherever it was before (another account logged in on the same phone). `locale` and `app_version` are ' +
          `replaced each time (absent: none). At most ${MAX_DEVICES_PER_SESSION} devices per session ` +
          '(422 `too_many_devices`). Logging out removes the session\'s devices.',
        security,
        body: RegisterDeviceBody,
        response: {
          200: Type.Object({ device: DeviceSchema }),
          201: Type.Object({ device: DeviceSchema }),
          ...errorResponses(400, 401, 422),
        },
      },
    },
    async (request, reply) => {
      const { device, created } = await devices.register(caller(request), request.body);
      return reply.code(created ? 201 : 200).send({ device });
    },
  );

  app.get(
    '/devices',
    {
      ...secured,
      schema: {
        tags: ['devices'],
        summary: 'The caller\'s push devices, on every live session, newest first',
        description: '`current` marks those of the session making the request. Devices of ended sessions are not listed.',
        security,
        response: { 200: Type.Object({ devices: Type.Array(DeviceSchema) }), ...errorResponses(401) },
      },
    },
    async (request) => ({ devices: await devices.list(caller(request)) }),
  );

  app.delete(
    '/devices/:id',
    {
      ...secured,
      schema: {
        tags: ['devices'],
        summary: 'Remove one of the caller\'s push devices',
        description: 'Answers 204. Another user\'s device, or one that does not exist: 404 `not_found`.',
        security,
        params: Type.Object({ id: Id() }),
        response: { 204: Type.Null({ description: 'Removed' }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await devices.remove(caller(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/push/webpush-key',
    {
      ...secured,
      schema: {
        tags: ['devices'],
        summary: 'The VAPID public key to subscribe to Web Push with',
        description: 'Pass it as `applicationServerKey` to `PushManager.subscribe`. 404 `not_found` when the server has no VAPID keys.',
        security,
        response: {
          200: Type.Object({ public_key: Type.String({ description: 'base64url, the uncompressed P-256 point (65 bytes).' }) }),
          ...errorResponses(401, 404),
        },
      },
    },
    async () => ({ public_key: devices.webPushKey() }),
  );
}
