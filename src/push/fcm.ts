import { readFile } from 'node:fs/promises';
import { importPKCS8, SignJWT, type CryptoKey } from 'jose';
import { describeReply, Requests, retryable, retryResult, safeCollapseKey } from './http.js';
import type { PushNotification, PushProvider, PushTarget, SendResult } from './provider.js';

/** The fields of a Google service-account JSON key file that sending needs. */
export interface FcmServiceAccount {
  project_id: string;
  client_email: string;
  /** PKCS#8 PEM, as Google issues it. */
  private_key: string;
  token_uri?: string;
}

export interface FcmOptions {
  serviceAccount: FcmServiceAccount;
  /** Default https://fcm.googleapis.com. */
  endpoint?: string;
  /** Where access tokens come from; default the account's token_uri, else Google's. */
  tokenUrl?: string;
  /** Per HTTP request (the token request and the send each get their own). Default 10 s. */
  timeoutMs?: number;
  /** Clock for the JWT's iat and the token cache, in ms; default Date.now. */
  now?: () => number;
}

const DEFAULT_ENDPOINT = 'https://fcm.googleapis.com';
const DEFAULT_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const ASSERTION_LIFETIME_S = 3600;
/** A cached token is replaced this long before Google says it expires, so none is sent stale. */
const TOKEN_EARLY_REFRESH_MS = 60_000;
/** APNs refuses an apns-collapse-id longer than 64 bytes. */
const APNS_COLLAPSE_ID_MAX = 64;
const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';

/**
 * Reads and checks a service-account key file. Rejects with an Error naming the file and
 * what is wrong (unreadable, not JSON, a missing or empty field, a key that is not PEM);
 * it does not check that Google knows the account, which only the first send can tell.
 */
export async function loadServiceAccount(filePath: string): Promise<FcmServiceAccount> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (err) {
    throw new Error(`FCM service account ${filePath}: cannot read it (${(err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`FCM service account ${filePath}: not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`FCM service account ${filePath}: not a JSON object`);
  }
  const json = parsed as Record<string, unknown>;
  const problems: string[] = [];
  for (const field of ['project_id', 'client_email', 'private_key'] as const) {
    const value = json[field];
    if (typeof value !== 'string' || value.trim() === '') problems.push(`"${field}" is missing or not a non-empty string`);
  }
  if (typeof json.private_key === 'string' && !json.private_key.includes('-----BEGIN PRIVATE KEY-----')) {
    problems.push('"private_key" is not a PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----)');
  }
  if (json.type !== undefined && json.type !== 'service_account') {
    problems.push(`"type" is ${JSON.stringify(json.type)}, not "service_account"`);
  }
  if (json.token_uri !== undefined && (typeof json.token_uri !== 'string' || !URL.canParse(json.token_uri))) {
    problems.push('"token_uri" is not a URL');
  }
  if (problems.length > 0) throw new Error(`FCM service account ${filePath}: ${problems.join('; ')}`);
  const account: FcmServiceAccount = {
    project_id: json.project_id as string,
    client_email: json.client_email as string,
    private_key: json.private_key as string,
  };
  if (typeof json.token_uri === 'string') account.token_uri = json.token_uri;
  return account;
}

interface AccessToken {
  value: string;
  /** ms on the provider's clock after which it is not used. */
  refreshAt: number;
}

/** A token request that did not yield a token; carries what send() should answer. */
class TokenUnavailable extends Error {
  constructor(readonly result: SendResult) {
    super(result.kind === 'sent' || result.kind === 'gone' ? result.kind : result.reason);
  }
}

/**
 * Firebase Cloud Messaging, HTTP v1 API, for Android and (through FCM) iOS devices.
 *
 * Authentication is a service account: an RS256 JWT assertion is exchanged for an OAuth2
 * access token, which is cached until 60 s before the expiry Google states. Concurrent
 * sends share one token request. A 401 on send drops that token and resends once with a
 * fresh one; a second 401 is `failed`.
 *
 * Results: 200 → sent; 404 or an FcmError with errorCode UNREGISTERED → gone; 429 and 5xx
 * (and no reply) → retry, with Retry-After; any other status → failed. A token endpoint
 * that answers 4xx (a revoked or wrong key) makes every send `failed` until it is fixed;
 * its 429/5xx are `retry`.
 *
 * The message carries a visible notification only when title or body is set; otherwise it
 * is data-only with the badge still set on iOS. A call's ring (`n.ring`) is data-only on
 * Android with priority HIGH and `ttl`, so the app's messaging service wakes and shows its
 * own incoming-call screen; on iOS it is an alert (apns-priority 10, apns-push-type
 * alert) that APNs drops at `apns-expiration`, the end of the ring window. Data values
 * must be strings, and FCM refuses (400, so `failed`) reserved keys such as `from` or ones starting `google.`.
 */
export class FcmProvider implements PushProvider {
  readonly platform = 'fcm' as const;
  private readonly requests: Requests;
  private readonly endpoint: string;
  private readonly tokenUrl: string;
  private readonly now: () => number;
  private key: Promise<CryptoKey> | undefined;
  private token: AccessToken | undefined;
  private tokenRequest: Promise<AccessToken> | undefined;

  constructor(private readonly options: FcmOptions) {
    this.requests = new Requests(options.timeoutMs ?? 10_000);
    this.endpoint = (options.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
    this.tokenUrl = options.tokenUrl ?? options.serviceAccount.token_uri ?? DEFAULT_TOKEN_URL;
    this.now = options.now ?? Date.now;
  }

  async send(target: PushTarget, n: PushNotification): Promise<SendResult> {
    if (target.platform !== 'fcm' || !target.token) {
      return { kind: 'failed', reason: `device ${target.deviceId} is not an FCM device with a token` };
    }
    const message = n.ring ? fcmRingMessage(target.token, n, n.ring.ttlSeconds, this.now()) : fcmMessage(target.token, n);
    const body = JSON.stringify({ message });
    const url = `${this.endpoint}/v1/projects/${encodeURIComponent(this.options.serviceAccount.project_id)}/messages:send`;
    for (let attempt = 1; ; attempt++) {
      let token: AccessToken;
      try {
        token = await this.accessToken();
      } catch (err) {
        if (err instanceof TokenUnavailable) return err.result;
        return { kind: 'failed', reason: `FCM access token: ${(err as Error).message}` };
      }
      const reply = await this.requests.post(url, { authorization: `Bearer ${token.value}`, 'content-type': 'application/json' }, body);
      if (!reply.ok) return reply.result;
      const { status, headers, text } = reply;
      if (status === 200) return { kind: 'sent' };
      if (status === 401) {
        // Revoked or expired early: forget it (unless a concurrent send already replaced it).
        if (this.token === token) this.token = undefined;
        if (attempt === 1) continue;
        return { kind: 'failed', reason: `FCM refused a fresh access token: ${describeReply(status, text)}` };
      }
      if (status === 404 || errorCode(text) === 'UNREGISTERED') return { kind: 'gone' };
      if (retryable(status)) return retryResult(status, headers, text, this.now());
      return { kind: 'failed', reason: describeReply(status, text) };
    }
  }

  async close(): Promise<void> {
    await this.requests.close();
  }

  /** The cached token, or one shared request for a new one. Rejects with TokenUnavailable. */
  private accessToken(): Promise<AccessToken> {
    if (this.token && this.now() < this.token.refreshAt) return Promise.resolve(this.token);
    this.tokenRequest ??= this.fetchToken().finally(() => {
      this.tokenRequest = undefined;
    });
    return this.tokenRequest;
  }

  private async fetchToken(): Promise<AccessToken> {
    const account = this.options.serviceAccount;
    this.key ??= importPKCS8(account.private_key, 'RS256');
    let key: CryptoKey;
    try {
      key = await this.key;
    } catch (err) {
      this.key = undefined;
      throw new TokenUnavailable({ kind: 'failed', reason: `FCM service account private_key: ${(err as Error).message}` });
    }
    const iat = Math.floor(this.now() / 1000);
    const assertion = await new SignJWT({ scope: SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(account.client_email)
      .setAudience(this.tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_S)
      .sign(key);
    const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString();
    const startedAt = this.now();
    const reply = await this.requests.post(this.tokenUrl, { 'content-type': 'application/x-www-form-urlencoded' }, form);
    if (!reply.ok) throw new TokenUnavailable({ ...reply.result, reason: `FCM access token: ${reply.result.reason}` });
    const { status, headers, text } = reply;
    if (status !== 200) {
      const result = retryResult(status, headers, text, this.now());
      if (retryable(status) && result.kind === 'retry') throw new TokenUnavailable({ ...result, reason: `FCM access token: ${result.reason}` });
      throw new TokenUnavailable({ kind: 'failed', reason: `FCM access token: ${describeReply(status, text)}` });
    }
    const parsed = parseTokenReply(text);
    if (!parsed) throw new TokenUnavailable({ kind: 'retry', reason: `FCM access token: unreadable reply ${describeReply(status, text)}` });
    // Counted from when the request left, so a slow reply cannot stretch the token's life.
    const token = { value: parsed.accessToken, refreshAt: startedAt + parsed.expiresInS * 1000 - TOKEN_EARLY_REFRESH_MS };
    this.token = token;
    return token;
  }
}

function parseTokenReply(text: string): { accessToken: string; expiresInS: number } | undefined {
  try {
    const json = JSON.parse(text) as { access_token?: unknown; expires_in?: unknown };
    if (typeof json.access_token !== 'string' || json.access_token === '') return undefined;
    const expiresInS = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : ASSERTION_LIFETIME_S;
    return { accessToken: json.access_token, expiresInS };
  } catch {
    return undefined;
  }
}

/** FCM v1's error details name the reason; UNREGISTERED is the one that means "remove it". */
function errorCode(text: string): string | undefined {
  try {
    const json = JSON.parse(text) as { error?: { details?: unknown } };
    const details = json.error?.details;
    if (!Array.isArray(details)) return undefined;
    for (const detail of details as Array<{ '@type'?: unknown; errorCode?: unknown }>) {
      if (detail['@type'] === FCM_ERROR_TYPE && typeof detail.errorCode === 'string') return detail.errorCode;
    }
  } catch {
    // Not JSON (a proxy's HTML page): no code, the status decides.
  }
  return undefined;
}

function fcmMessage(token: string, n: PushNotification): Record<string, unknown> {
  const visible = n.title !== null || n.body !== null;
  const notification: Record<string, string> = {};
  if (n.title !== null) notification.title = n.title;
  if (n.body !== null) notification.body = n.body;
  const aps: Record<string, unknown> = { badge: n.badge };
  if (visible) {
    aps.sound = 'default';
    // Lets a notification service extension decorate it; meaningless without an alert.
    aps['mutable-content'] = 1;
  }
  return {
    token,
    ...(visible ? { notification } : {}),
    data: n.data,
    android: {
      priority: 'high',
      collapse_key: n.collapseKey,
      ...(visible ? { notification: { tag: n.collapseKey, notification_count: n.count, sound: 'default' } } : {}),
    },
    apns: {
      headers: { 'apns-collapse-id': apnsCollapseId(n.collapseKey), 'apns-priority': '10' },
      payload: { aps },
    },
  };
}

/**
 * A call's ring: no top-level notification, so Android hands the data to the app (which
 * rings) instead of drawing a message notification; iOS, where a data-only push may wait
 * or be dropped, gets the text as an alert. Neither keeps it past the ring window.
 */
function fcmRingMessage(token: string, n: PushNotification, ttlSeconds: number, now: number): Record<string, unknown> {
  const alert: Record<string, string> = {};
  if (n.title !== null) alert.title = n.title;
  if (n.body !== null) alert.body = n.body;
  return {
    token,
    data: n.data,
    android: { priority: 'HIGH', ttl: `${ttlSeconds}s`, collapse_key: n.collapseKey },
    apns: {
      headers: {
        'apns-collapse-id': apnsCollapseId(n.collapseKey),
        'apns-priority': '10',
        'apns-push-type': 'alert',
        'apns-expiration': String(Math.floor(now / 1000) + ttlSeconds),
      },
      payload: { aps: { alert, badge: n.badge, sound: 'default', 'mutable-content': 1 } },
    },
  };
}

/** The collapse key as is when APNs takes it (at most 64 bytes), else a stable digest of it. */
function apnsCollapseId(key: string): string {
  return Buffer.byteLength(key) <= APNS_COLLAPSE_ID_MAX ? key : safeCollapseKey(key, APNS_COLLAPSE_ID_MAX);
}
