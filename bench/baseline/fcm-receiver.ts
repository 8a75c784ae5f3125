/**
 * A lean FCM HTTP v1 receiver for the push benchmark, in its own process so it never
 * shares an event loop with the coordinator or the server. It checks what matters for
 * the measurement and no more:
 *
 * - `POST /token`: the OAuth2 JWT-bearer grant — the assertion's RS256 signature against
 *   the service account's public key (PUBLIC_KEY, PEM), iss = CLIENT_EMAIL, aud = this
 *   URL, the messaging scope, exp in the future; then an access token of its own.
 * - `POST /v1/projects/<PROJECT_ID>/messages:send`: an issued bearer, a JSON body with a
 *   string `message.token`; answers 200 and counts the receipt per device token.
 *
 * Control (loopback only, for the coordinator): `GET /stats` (totals, the time of the
 * first receipt and of the last first-time receipt, in ms since the epoch on this
 * machine's clock), `GET /counts` (every token's receipt count), `GET /timeline` (receipts
 * per 100 ms), `POST /reset`.
 *
 * `test/harness/push-peers.ts`'s FcmServer checks more (every claim, data types,
 * programmable failures) and keeps every message; this one keeps a counter per token.
 */
import { createPublicKey, createVerify, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

const port = Number(process.env.PORT ?? 0);
const projectId = process.env.PROJECT_ID ?? '';
const clientEmail = process.env.CLIENT_EMAIL ?? '';
const publicKey = createPublicKey(process.env.PUBLIC_KEY ?? '');
const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const sendPath = `/v1/projects/${encodeURIComponent(projectId)}/messages:send`;

const issued = new Set<string>();
let counts = new Map<string, number>();
let received = 0;
let refused = 0;
let tokenRequests = 0;
let firstAt: number | null = null;
let lastNewAt: number | null = null;
let lastAt: number | null = null;
let timeline = new Map<number, number>();

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The claims of an RS256 JWT whose signature verifies with the account's key, else null. */
function verifyAssertion(jwt: string): Record<string, unknown> | null {
  const parts = jwt.split('.');
  if (parts.length !== 3) return null;
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: string };
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: string };
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (header.alg !== 'RS256') return null;
  const ok = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(publicKey, Buffer.from(s, 'base64url'));
  return ok ? claims : null;
}

async function token(req: IncomingMessage, res: ServerResponse, origin: string): Promise<void> {
  tokenRequests++;
  const form = new URLSearchParams(await readBody(req));
  const invalid = (why: string) => reply(res, 400, { error: 'invalid_grant', error_description: why });
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return invalid('grant_type');
  const claims = verifyAssertion(form.get('assertion') ?? '');
  if (!claims) return invalid('assertion signature');
  const now = Date.now() / 1000;
  if (claims.iss !== clientEmail) return invalid('iss');
  if (claims.aud !== `${origin}/token`) return invalid('aud');
  if (typeof claims.exp !== 'number' || claims.exp <= now) return invalid('exp');
  if (typeof claims.scope !== 'string' || !claims.scope.split(' ').includes(SCOPE)) return invalid('scope');
  const accessToken = `ya29.bench-${randomBytes(16).toString('hex')}`;
  issued.add(accessToken);
  reply(res, 200, { access_token: accessToken, expires_in: 3600, token_type: 'Bearer' });
}

async function send(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (!bearer || !issued.has(bearer)) {
    refused++;
    return reply(res, 401, { error: { code: 401, status: 'UNAUTHENTICATED', message: 'bearer' } });
  }
  let deviceToken: unknown;
  try {
    deviceToken = (JSON.parse(body) as { message?: { token?: unknown } }).message?.token;
  } catch {
    deviceToken = undefined;
  }
  if (typeof deviceToken !== 'string' || deviceToken === '') {
    refused++;
    return reply(res, 400, { error: { code: 400, status: 'INVALID_ARGUMENT', message: 'message.token' } });
  }
  const now = Date.now();
  received++;
  firstAt ??= now;
  lastAt = now;
  const n = (counts.get(deviceToken) ?? 0) + 1;
  counts.set(deviceToken, n);
  if (n === 1) lastNewAt = now;
  const bucket = Math.floor(now / 100);
  timeline.set(bucket, (timeline.get(bucket) ?? 0) + 1);
  reply(res, 200, { name: `projects/${projectId}/messages/${received}` });
}

const server = createServer((req, res) => {
  const origin = `http://${req.headers.host ?? `127.0.0.1:${port}`}`;
  const url = req.url ?? '/';
  const fail = (err: unknown) => {
    if (!res.headersSent) reply(res, 500, { error: String(err) });
  };
  if (req.method === 'POST' && url === sendPath) return void send(req, res).catch(fail);
  if (req.method === 'POST' && url === '/token') return void token(req, res, origin).catch(fail);
  if (req.method === 'GET' && url === '/stats') {
    return reply(res, 200, { received, distinct: counts.size, refused, token_requests: tokenRequests, first_at: firstAt, last_new_at: lastNewAt, last_at: lastAt });
  }
  if (req.method === 'GET' && url === '/counts') return reply(res, 200, Object.fromEntries(counts));
  if (req.method === 'GET' && url === '/timeline') return reply(res, 200, [...timeline].map(([b, n]) => [b * 100, n]));
  if (req.method === 'POST' && url === '/reset') {
    counts = new Map();
    timeline = new Map();
    received = refused = 0;
    firstAt = lastNewAt = lastAt = null;
    return reply(res, 200, {});
  }
  res.writeHead(404).end();
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  console.log(`fcm receiver ready on ${address.port}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0));
