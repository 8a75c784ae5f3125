import { createECDH, createHmac, generateKeyPairSync, randomBytes, timingSafeEqual, type ECDH, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decrypt } from 'http_ece';
import { importJWK, jwtVerify } from 'jose';
import type { WebPushSubscription } from '../../src/domain/devices.js';
import type { FcmServiceAccount } from '../../src/push/fcm.js';
import { HttpPeer, readBody } from './http-peer.js';

/**
 * Loopback stand-ins for the three push platforms, each checking what the real one checks
 * that a test can observe: FCM's OAuth2 JWT-bearer grant and bearer tokens, a Web Push
 * service's VAPID JWT and aes128gcm encryption (decrypted here as the browser would), and
 * a webhook receiver's HMAC signature and replay window. None of them imports the
 * provider code it tests, so a provider bug cannot pass by agreeing with itself.
 */

export { closedPort } from './http-peer.js';

const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

/** A fresh RSA key pair as a Google service-account file and the public half to verify with. */
export function makeServiceAccount(projectId: string): {
  serviceAccount: FcmServiceAccount & { type: 'service_account'; private_key_id: string; client_id: string };
  publicKey: KeyObject;
} {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    serviceAccount: {
      type: 'service_account',
      project_id: projectId,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: `natter-push@${projectId}.iam.gserviceaccount.com`,
      client_id: String(randomBytes(8).readBigUInt64BE()),
      // Nowhere in particular: a test that forgets tokenUrl fails instead of calling Google.
      token_uri: 'https://oauth2.invalid/token',
    },
    publicKey,
  };
}

/** FCM v1's error body; with errorCode it carries the FcmError detail. */
export function fcmError(code: number, status: string, errorCode?: string): unknown {
  return {
    error: {
      code,
      message: errorCode === 'UNREGISTERED' ? 'Requested entity was not found.' : `${status} (test peer)`,
      status,
      details: errorCode ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] : [],
    },
  };
}

export interface FcmReceived {
  accessToken: string;
  /** The `message` object as FCM parsed it. */
  message: any;
}

/**
 * FCM HTTP v1 on loopback: `POST /token` (Google's OAuth2 token endpoint: the assertion's
 * RS256 signature checked against the account's public key, iss, aud = tokenUrl, the
 * messaging scope, a lifetime of at most an hour) and
 * `POST /v1/projects/<project>/messages:send` (an issued, unexpired bearer; a string token;
 * string data values). Time is the injected clock, so a test can expire tokens.
 */
export class FcmServer extends HttpPeer<FcmReceived> {
  /** Every request to the token endpoint, granted or not. */
  tokenRequests = 0;
  private readonly issued = new Map<string, number>();
  private readonly unregistered = new Set<string>();
  private readonly tokenReplies: Array<{ status: number; body?: unknown; headers?: Record<string, string> }> = [];

  private constructor(
    private readonly account: { projectId: string; clientEmail: string; publicKey: KeyObject },
    private readonly tokenTtlSeconds: number,
    private readonly now: () => number,
  ) {
    super();
  }

  static async start(options: {
    projectId: string;
    clientEmail: string;
    publicKey: KeyObject;
    tokenTtlSeconds?: number;
    now?: () => number;
  }): Promise<FcmServer> {
    const server = new FcmServer(options, options.tokenTtlSeconds ?? 3600, options.now ?? Date.now);
    await server.listen();
    return server;
  }

  get endpoint(): string {
    return this.origin;
  }

  get tokenUrl(): string {
    return `${this.origin}/token`;
  }

  /** From now on this device token is answered 404 UNREGISTERED, as after an app uninstall. */
  unregister(token: string): void {
    this.unregistered.add(token);
  }

  /** Forgets every issued access token, so the next send with one gets 401. */
  revokeTokens(): void {
    this.issued.clear();
  }

  /** Queues a reply for the next token request whose assertion is valid. */
  respondNextToken(status: number, body?: unknown, headers?: Record<string, string>): void {
    this.tokenReplies.push({ status, body, headers });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    if (req.method === 'POST' && url.pathname === '/token') return this.token(req, res);
    const send = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(url.pathname);
    if (req.method === 'POST' && send) return this.messagesSend(decodeURIComponent(send[1]!), req, res);
    res.writeHead(404).end();
  }

  private async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.tokenRequests++;
    const form = new URLSearchParams((await readBody(req)).toString('utf8'));
    const invalid = (why: string) => this.refuse(res, `token: ${why}`, { status: 400, body: { error: 'invalid_grant', error_description: why } });
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return invalid('grant_type');
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(form.get('assertion') ?? '', this.account.publicKey, {
        algorithms: ['RS256'],
        issuer: this.account.clientEmail,
        audience: this.tokenUrl,
        requiredClaims: ['iat', 'exp'],
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      return invalid(`assertion: ${(err as Error).message}`);
    }
    if (typeof claims.scope !== 'string' || !claims.scope.split(' ').includes(FCM_SCOPE)) return invalid('scope');
    if (claims.exp! - claims.iat! > 3600) return invalid('assertion lifetime over an hour');
    const programmed = this.tokenReplies.shift();
    if (programmed) return void this.refuse(res, `token: programmed ${programmed.status}`, programmed);
    const accessToken = `ya29.test-${randomBytes(16).toString('hex')}`;
    this.issued.set(accessToken, this.now() + this.tokenTtlSeconds * 1000);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ access_token: accessToken, expires_in: this.tokenTtlSeconds, token_type: 'Bearer' }));
  }

  private async messagesSend(project: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.attempts++;
    const body = await readBody(req);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const expiresAt = bearer === undefined ? undefined : this.issued.get(bearer);
    if (bearer === undefined || expiresAt === undefined || this.now() >= expiresAt) {
      return this.refuse(res, 'send: bearer missing, unknown or expired', { status: 401, body: fcmError(401, 'UNAUTHENTICATED') });
    }
    if (project !== this.account.projectId) {
      return this.refuse(res, `send: project ${project}`, { status: 403, body: fcmError(403, 'PERMISSION_DENIED', 'SENDER_ID_MISMATCH') });
    }
    let message: any;
    try {
      message = (JSON.parse(body.toString('utf8')) as { message?: unknown }).message;
    } catch {
      message = undefined;
    }
    const badData =
      message?.data !== undefined &&
      (typeof message.data !== 'object' || Object.values(message.data as object).some((v) => typeof v !== 'string'));
    if (typeof message?.token !== 'string' || message.token === '' || badData) {
      return this.refuse(res, 'send: invalid message', { status: 400, body: fcmError(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT') });
    }
    if (this.unregistered.has(message.token)) {
      return this.refuse(res, 'send: unregistered token', { status: 404, body: fcmError(404, 'NOT_FOUND', 'UNREGISTERED') });
    }
    await this.accept(res, { accessToken: bearer, message }, {
      status: 200,
      body: { name: `projects/${project}/messages/${randomBytes(8).toString('hex')}` },
    });
  }
}

export interface WebPushReceived {
  subscriptionId: string;
  /** The decrypted body, parsed as JSON (what the service worker's event.data.json() gives). */
  payload: any;
  /** Encrypted body size as the push service saw it. */
  bodyBytes: number;
  headers: { ttl: string | undefined; topic: string | undefined; urgency: string | undefined };
  /** The verified VAPID claims. */
  vapid: { aud: string; sub: string; exp: number };
}

interface Subscriber {
  ecdh: ECDH;
  auth: Buffer;
  expired: boolean;
}

/**
 * A Web Push service (RFC 8030) and the browser behind it, on loopback. A POST to a
 * subscription's endpoint must carry VAPID (RFC 8292: `vapid t=<ES256 JWT>, k=<key>`, the
 * JWT verified with k, aud = this origin, exp in the future and within 24 h, a
 * mailto:/https: sub), a TTL header, a valid Topic if any, `Content-Encoding: aes128gcm`
 * and at most 4096 body bytes that decrypt (RFC 8291) with the subscription's private key
 * and auth secret, which never leave this object. With an applicationServerKey, k must be
 * it (403 otherwise), as a browser binds a subscription to one.
 */
export class WebPushReceiver extends HttpPeer<WebPushReceived> {
  private readonly subscribers = new Map<string, Subscriber>();

  private constructor(private readonly applicationServerKey: string | undefined) {
    super();
  }

  static async start(options: { applicationServerKey?: string } = {}): Promise<WebPushReceiver> {
    const receiver = new WebPushReceiver(options.applicationServerKey);
    await receiver.listen();
    return receiver;
  }

  /** A new subscription, as PushManager.subscribe() would hand it to the page. */
  subscribe(): WebPushSubscription {
    const id = randomBytes(9).toString('base64url');
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    this.subscribers.set(id, { ecdh, auth, expired: false });
    return {
      endpoint: `${this.origin}/push/${id}`,
      keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
    };
  }

  /** The id in a subscription's endpoint, as WebPushReceived.subscriptionId names it. */
  static idOf(subscription: WebPushSubscription): string {
    return new URL(subscription.endpoint).pathname.split('/').pop()!;
  }

  /** From now on pushes to it get 410 Gone, as after the user revoked permission. */
  expire(subscription: WebPushSubscription | string): void {
    const id = typeof subscription === 'string' ? subscription : WebPushReceiver.idOf(subscription);
    const subscriber = this.subscribers.get(id);
    if (subscriber) subscriber.expired = true;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/push\/([A-Za-z0-9_-]+)$/.exec(new URL(req.url ?? '/', this.origin).pathname);
    if (req.method !== 'POST' || !match) return void res.writeHead(404).end();
    this.attempts++;
    const id = match[1]!;
    const body = await readBody(req);
    const subscriber = this.subscribers.get(id);
    if (!subscriber) return this.refuse(res, `unknown subscription ${id}`, { status: 404 });
    if (subscriber.expired) return this.refuse(res, `expired subscription ${id}`, { status: 410 });

    const vapid = await this.verifyVapid(req.headers.authorization);
    if (typeof vapid === 'string') {
      return this.refuse(res, `vapid: ${vapid}`, { status: vapid.startsWith('key is not') ? 403 : 401 });
    }
    const ttl = header(req, 'ttl');
    const topic = header(req, 'topic');
    if (ttl === undefined || !/^\d+$/.test(ttl)) return this.refuse(res, 'TTL missing or not a number', { status: 400 });
    if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(topic)) return this.refuse(res, `bad Topic ${topic}`, { status: 400 });
    if (header(req, 'content-encoding') !== 'aes128gcm') return this.refuse(res, 'Content-Encoding is not aes128gcm', { status: 415 });
    if (body.length > 4096) return this.refuse(res, `body of ${body.length} bytes`, { status: 413 });

    let payload: unknown;
    try {
      const plain = decrypt(body, { version: 'aes128gcm', privateKey: subscriber.ecdh, authSecret: subscriber.auth });
      payload = JSON.parse(plain.toString('utf8'));
    } catch (err) {
      return this.refuse(res, `body does not decrypt to JSON: ${(err as Error).message}`, { status: 400 });
    }
    await this.accept(
      res,
      { subscriptionId: id, payload, bodyBytes: body.length, headers: { ttl, topic, urgency: header(req, 'urgency') }, vapid },
      { status: 201, headers: { location: `${this.origin}/message/${randomBytes(6).toString('hex')}` } },
    );
  }

  /** The verified claims, or why they are refused. */
  private async verifyVapid(authorization: string | undefined): Promise<WebPushReceived['vapid'] | string> {
    const params = /^vapid (.+)$/i.exec(authorization ?? '')?.[1];
    if (!params) return 'no "vapid" Authorization';
    const fields = new Map(params.split(',').map((p) => p.trim().split('=', 2) as [string, string | undefined]));
    const jwt = fields.get('t');
    const k = fields.get('k');
    if (!jwt || !k) return 't= or k= missing';
    if (this.applicationServerKey !== undefined && k !== this.applicationServerKey) return 'key is not the subscription\'s applicationServerKey';
    const point = Buffer.from(k, 'base64url');
    if (point.length !== 65 || point[0] !== 4) return 'k is not an uncompressed P-256 point';
    try {
      const key = await importJWK(
        { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
        'ES256',
      );
      const { payload } = await jwtVerify(jwt, key, { algorithms: ['ES256'], audience: this.origin, requiredClaims: ['exp', 'sub'] });
      const exp = payload.exp!;
      if (exp > Date.now() / 1000 + 24 * 3600 + 60) return 'exp more than 24 h ahead';
      if (typeof payload.sub !== 'string' || !/^(mailto:|https:)/.test(payload.sub)) return 'sub is not mailto: or https:';
      return { aud: this.origin, sub: payload.sub, exp };
    } catch (err) {
      return `jwt: ${(err as Error).message}`;
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export interface WebhookReceived {
  /** The JSON body, parsed. */
  body: any;
  timestamp: string;
}

/**
 * An operator's webhook endpoint: accepts a POST only when Natter-Signature holds a v1=
 * HMAC-SHA256(secret, "<Natter-Timestamp>.<raw body>") and the timestamp is within
 * toleranceSec of its clock; otherwise 401. The HMAC is computed here, not with the
 * provider's verifyWebhookSignature, so the two cannot share a mistake.
 */
export class WebhookReceiver extends HttpPeer<WebhookReceived> {
  private constructor(
    private readonly secret: string,
    private readonly toleranceSec: number,
    private readonly now: () => number,
  ) {
    super();
  }

  static async start(options: { secret: string; toleranceSec?: number; now?: () => number }): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(options.secret, options.toleranceSec ?? 300, options.now ?? Date.now);
    await receiver.listen();
    return receiver;
  }

  get url(): string {
    return `${this.origin}/hooks/push`;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || req.url !== '/hooks/push') return void res.writeHead(404).end();
    this.attempts++;
    const raw = await readBody(req);
    const timestamp = header(req, 'natter-timestamp') ?? '';
    const signatures = (header(req, 'natter-signature') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.startsWith('v1='))
      .map((s) => Buffer.from(s.slice(3), 'hex'));
    if (!/^\d+$/.test(timestamp) || Math.abs(this.now() / 1000 - Number(timestamp)) > this.toleranceSec) {
      return this.refuse(res, `stale or missing timestamp ${timestamp}`, { status: 401, body: { error: 'stale timestamp' } });
    }
    const expected = createHmac('sha256', this.secret).update(Buffer.concat([Buffer.from(`${timestamp}.`), raw])).digest();
    if (!signatures.some((s) => s.length === expected.length && timingSafeEqual(s, expected))) {
      return this.refuse(res, 'bad signature', { status: 401, body: { error: 'bad signature' } });
    }
    if (header(req, 'content-type') !== 'application/json') return this.refuse(res, 'not JSON', { status: 415 });
    await this.accept(res, { body: JSON.parse(raw.toString('utf8')), timestamp }, { status: 204 });
  }
}

/** The three peers together, with the settings that point natter at all of them. */
export interface PushPeers {
  fcm: FcmServer;
  webPush: WebPushReceiver;
  hook: WebhookReceiver;
  /** The VAPID key pair natter signs Web Push with (base64url, as VAPID_* take them). */
  vapid: { publicKey: string; privateKey: string };
  /** The service-account file FCM_SERVICE_ACCOUNT_FILE names. */
  serviceAccountFile: string;
  /** FCM, Web Push and webhook settings, as envConfig takes them. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startPushPeers(opts: { projectId: string; webhookSecret: string }): Promise<PushPeers> {
  const dir = mkdtempSync(path.join(tmpdir(), 'natter-push-peers-'));
  const { serviceAccount, publicKey } = makeServiceAccount(opts.projectId);
  const serviceAccountFile = path.join(dir, 'service-account.json');
  writeFileSync(serviceAccountFile, JSON.stringify(serviceAccount));
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  // getPrivateKey drops leading zero bytes; VAPID_PRIVATE_KEY is exactly 32.
  const raw = ecdh.getPrivateKey();
  const vapid = { publicKey: ecdh.getPublicKey('base64url'), privateKey: Buffer.concat([Buffer.alloc(32 - raw.length), raw]).toString('base64url') };
  const [fcm, webPush, hook] = await Promise.all([
    FcmServer.start({ projectId: opts.projectId, clientEmail: serviceAccount.client_email, publicKey }),
    WebPushReceiver.start({ applicationServerKey: vapid.publicKey }),
    WebhookReceiver.start({ secret: opts.webhookSecret }),
  ]);
  return {
    fcm,
    webPush,
    hook,
    vapid,
    serviceAccountFile,
    env: {
      FCM_SERVICE_ACCOUNT_FILE: serviceAccountFile,
      FCM_ENDPOINT: fcm.endpoint,
      FCM_TOKEN_URL: fcm.tokenUrl,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: 'mailto:ops@example.com',
      PUSH_WEBHOOK_URL: hook.url,
      PUSH_WEBHOOK_SECRET: opts.webhookSecret,
      WEBPUSH_ENDPOINTS: 'http://127.0.0.1:*',
    },
    async close() {
      await Promise.all([fcm.close(), webPush.close(), hook.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
