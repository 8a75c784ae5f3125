import { webcrypto } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import { systemClock, type Clock } from '../domain/clock.js';
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
  // A CryptoKey imported once: jose works on WebCrypto keys, and given raw bytes or a
  // KeyObject it converts them on every sign and verify (seen in profiles).
  private readonly key: Promise<webcrypto.CryptoKey>;
  // A token is immutable and its signature and expiry are all verify checks, so a token
  // seen before is answered from memory until it expires: clients send the same token
  // with every request, and the HMAC (a thread-pool job in WebCrypto) showed in profiles.
  private readonly verified = new LRUCache<string, { claims: AccessClaims; expiresAtMs: number }>({ max: 20_000 });

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.key = webcrypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
  }

  async sign(claims: AccessClaims): Promise<string> {
    const now = Math.floor(this.clock.now() / 1000);
    return new SignJWT({ sid: claims.sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(String(claims.userId))
      .setIssuedAt(now)
      .setExpirationTime(now + Math.round(this.ttlSeconds))
      .sign(await this.key);
  }

  /** Throws AppError('unauthorized') for anything but a valid, unexpired token. */
  async verify(token: string): Promise<AccessClaims> {
    const known = this.verified.get(token);
    if (known && known.expiresAtMs > this.clock.now()) return known.claims;
    try {
      const { payload } = await jwtVerify(token, await this.key, {
        algorithms: ['HS256'],
        currentDate: new Date(this.clock.now()),
      });
      const userId = Number(payload.sub);
      if (!Number.isSafeInteger(userId) || typeof payload.sid !== 'string' || !isUuid(payload.sid)) {
        throw new Error('claims');
      }
      const claims = { userId, sessionId: payload.sid };
      if (typeof payload.exp === 'number') this.verified.set(token, { claims, expiresAtMs: payload.exp * 1000 });
      return claims;
    } catch (err) {
      const expired = err instanceof joseErrors.JWTExpired;
      throw new AppError('unauthorized', expired ? 'Token has expired' : 'Invalid token');
    }
  }
}
