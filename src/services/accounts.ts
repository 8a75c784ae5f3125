import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../domain/clock.js';
import { AppError } from '../domain/errors.js';
import { isUuid } from '../domain/ids.js';
import { normalizeEmail, toMe } from '../domain/users.js';
import type { Me } from '../schemas/users.js';
import { inTransaction, type Db } from '../store/database.js';
import { deleteSessionDevices } from '../store/devices.repository.js';
import {
  findSession,
  insertSession,
  activeSessionDevice,
  liveSessionIds,
  revokeSession,
  rotateRefreshHash,
} from '../store/sessions.repository.js';
import { findUserById, findUserByLogin, insertUser } from '../store/users.repository.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { AccessClaims, TokenSigner } from './tokens.js';
import type { Fanout } from './fanout.js';
import { uniqueViolationToAppError } from './users.js';

/** What register, login and refresh answer (the seed's shape plus refresh_token). */
export interface AuthResult {
  token: string;
  refresh_token: string;
  /** The session's public id as a device (calls ring devices); never the session id. */
  device_id: string;
  user: Me;
}

/** An access token's claims, checked against a live session, and that session's public device id. */
export interface Authenticated extends AccessClaims {
  deviceId: string;
}

export interface Registration {
  username: string;
  email: string;
  password: string;
  phone?: string | null;
  avatar?: string | null;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');

/**
 * Refresh tokens are `<session id>.<32 random bytes>`; only a SHA-256 of the secret part
 * is stored. Each refresh rotates the secret; presenting the previous one again is
 * taken as theft and revokes the session.
 */
function newRefreshSecret(): string {
  return randomBytes(32).toString('base64url');
}

function parseRefreshToken(token: string): { sessionId: string; secret: string } | null {
  const dot = token.indexOf('.');
  if (dot <= 0) return null;
  const sessionId = token.slice(0, dot);
  if (!isUuid(sessionId)) return null;
  return { sessionId, secret: token.slice(dot + 1) };
}

function sameHash(a: string, b: string | null): boolean {
  if (b === null || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

// Verifying against this keeps a login for an unknown account as slow as a wrong password.
let dummyHash: Promise<string> | undefined;

export class AccountsService {
  constructor(
    private readonly db: Db,
    private readonly signer: TokenSigner,
    private readonly refreshTtlSeconds: number,
    /** Told about every revoked session, so its open sockets close everywhere. */
    private readonly fanout?: Fanout,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Creates the account and its first session. Throws email_taken / username_taken. */
  async register(input: Registration, userAgent: string | null): Promise<AuthResult> {
    const passwordHash = await hashPassword(input.password);
    let row;
    try {
      row = await insertUser(this.db, {
        username: input.username.trim(),
        email: normalizeEmail(input.email),
        passwordHash,
        phone: input.phone?.trim() || null,
        avatar: input.avatar?.trim() || null,
      });
    } catch (err) {
      uniqueViolationToAppError(err);
    }
    return { ...(await this.openSession(row.id, userAgent)), user: toMe(row) };
  }

  /** `login` is an email or a username. Same answer for unknown account and wrong password. */
  async login(login: string, password: string, userAgent: string | null): Promise<AuthResult> {
    const row = await findUserByLogin(this.db, login.trim());
    if (!row) {
      dummyHash ??= hashPassword('natter-timing-equaliser');
      await verifyPassword(await dummyHash, password);
      throw new AppError('invalid_credentials', 'Invalid email or password');
    }
    const ok = await verifyPassword(row.password_hash, password);
    if (!ok) throw new AppError('invalid_credentials', 'Invalid email or password');
    return { ...(await this.openSession(row.id, userAgent)), user: toMe(row) };
  }

  /**
   * Exchanges a refresh token for a new access token and a new refresh token. The old
   * refresh token stops working; reusing it revokes the whole session.
   */
  async refresh(refreshToken: string): Promise<AuthResult> {
    const invalid = () => new AppError('invalid_refresh_token', 'Refresh token is invalid or expired');
    const parsed = parseRefreshToken(refreshToken);
    if (!parsed) throw invalid();
    const session = await findSession(this.db, parsed.sessionId);
    if (!session || session.revoked_at || session.expires_at.getTime() <= this.clock.now()) throw invalid();
    const presented = sha256(parsed.secret);
    if (!sameHash(presented, session.refresh_hash)) {
      if (sameHash(presented, session.previous_hash)) await this.revoke(session.user_id, session.id);
      throw invalid();
    }
    const secret = newRefreshSecret();
    const rotated = await rotateRefreshHash(this.db, session.id, presented, sha256(secret), this.expiry());
    if (!rotated) throw invalid();
    return this.issue(session.user_id, session.id, session.device_id, secret);
  }

  /** Revokes the session behind an access token; its access tokens stop working at once. */
  async logout(claims: AccessClaims): Promise<void> {
    await this.revoke(claims.userId, claims.sessionId);
  }

  /**
   * Revokes in the database first — with the session's push devices, in the same
   * transaction, so an ended session is never notified — then tells every node to close
   * the session's sockets. Every revocation (logout, refresh-token reuse) comes here.
   */
  private async revoke(userId: number, sessionId: string): Promise<void> {
    await inTransaction(this.db, async (trx) => {
      await revokeSession(trx, sessionId);
      await deleteSessionDevices(trx, sessionId);
    });
    await this.fanout?.sessionRevoked(userId, sessionId);
  }

  /**
   * Resolves an access token to its claims, checking that the session is still live.
   * Throws AppError('unauthorized').
   */
  async authenticate(token: string): Promise<Authenticated> {
    const claims = await this.signer.verify(token);
    const deviceId = await activeSessionDevice(this.db, claims.sessionId, claims.userId, new Date(this.clock.now()));
    if (deviceId === undefined) throw new AppError('unauthorized', 'Session has ended; log in again');
    return { ...claims, deviceId };
  }

  /**
   * The user an access token was signed for, checking signature and expiry only (no
   * database, so it is cheap enough to run before anything else): null for any other
   * token. Not authentication — `authenticate` also checks the session is live.
   */
  tokenUser(token: string): Promise<number | null> {
    return this.signer.verify(token).then((claims) => claims.userId, () => null);
  }

  /** Which of these sessions are still open. */
  liveSessions(sessionIds: string[]): Promise<Set<string>> {
    return liveSessionIds(this.db, sessionIds, new Date(this.clock.now()));
  }

  /** Whether the session is still open (for checks after the token was accepted). */
  sessionActive(claims: AccessClaims): Promise<boolean> {
    return activeSessionDevice(this.db, claims.sessionId, claims.userId, new Date(this.clock.now())).then((d) => d !== undefined);
  }

  private expiry(): Date {
    return new Date(this.clock.now() + this.refreshTtlSeconds * 1000);
  }

  private async openSession(userId: number, userAgent: string | null) {
    const sessionId = randomUUID();
    const deviceId = randomBytes(16).toString('hex');
    const secret = newRefreshSecret();
    await insertSession(this.db, {
      id: sessionId,
      deviceId,
      userId,
      refreshHash: sha256(secret),
      userAgent: userAgent?.slice(0, 512) ?? null,
      expiresAt: this.expiry(),
    });
    return {
      token: await this.signer.sign({ userId, sessionId }),
      refresh_token: `${sessionId}.${secret}`,
      device_id: deviceId,
    };
  }

  private async issue(userId: number, sessionId: string, deviceId: string, secret: string): Promise<AuthResult> {
    const row = await findUserById(this.db, userId);
    if (!row) throw new AppError('invalid_refresh_token', 'Refresh token is invalid or expired');
    return {
      token: await this.signer.sign({ userId, sessionId }),
      refresh_token: `${sessionId}.${secret}`,
      device_id: deviceId,
      user: toMe(row),
    };
  }
}
