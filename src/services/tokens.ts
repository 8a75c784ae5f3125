import { createSecretKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { AppError } from '../domain/errors.js';
import { isUuid } from '../domain/ids.js';

/** The claims natter puts in an access token. */
export interface AccessClaims {
  userId: number;
  sessionId: string;
}

/**
 * HS256 access tokens. Verification checks signature and expiry only; whether the
 * session behind it is still live is the accounts service's business.
 */
export class TokenSigner {
  // A KeyObject made once: given raw bytes, jose imports the key on every sign and verify.
  private readonly key: KeyObject;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  async sign(claims: AccessClaims): Promise<string> {
    return new SignJWT({ sid: claims.sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(String(claims.userId))
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + Math.round(this.ttlSeconds))
      .sign(this.key);
  }

  /** Throws AppError('unauthorized') for anything but a valid, unexpired token. */
  async verify(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'] });
      const userId = Number(payload.sub);
      if (!Number.isSafeInteger(userId) || typeof payload.sid !== 'string' || !isUuid(payload.sid)) {
        throw new Error('claims');
      }
      return { userId, sessionId: payload.sid };
    } catch (err) {
      const expired = err instanceof joseErrors.JWTExpired;
      throw new AppError('unauthorized', expired ? 'Token has expired' : 'Invalid token');
    }
  }
}
