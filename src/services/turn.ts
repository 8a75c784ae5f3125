import { createHmac } from 'node:crypto';
import { systemClock, type Clock } from '../domain/clock.js';
import type { TurnCredentials } from '../schemas/turn.js';

export const TURN_NOT_CONFIGURED = 'TURN is not configured on this server (TURN_SECRET is unset): only STUN servers are offered, so calls between networks that block direct connections may fail.';

/**
 * Short-lived TURN credentials in the form coturn checks with `use-auth-secret` (the "TURN
 * REST API"): the username carries its own expiry, the password is an HMAC of the username
 * under the secret natter shares with the TURN server, so the two never talk to each other
 * and nothing is stored. A credential cannot be revoked; it stops working at its expiry.
 */
export class TurnService {
  private readonly stunUris: readonly string[];

  constructor(
    private readonly settings: {
      /** TURN_URIS: stun:, turn: and turns: URIs. */
      uris: readonly string[];
      /** TURN_SECRET, or undefined: STUN only. */
      secret: string | undefined;
      /** TURN_TTL in seconds. */
      ttlSeconds: number;
    },
    private readonly clock: Clock = systemClock,
  ) {
    this.stunUris = settings.uris.filter((uri) => uri.startsWith('stun:'));
  }

  /** Credentials for `userId`, valid for TURN_TTL from now (whole seconds). */
  credentials(userId: number): TurnCredentials {
    const ttl = Math.floor(this.settings.ttlSeconds);
    const { secret } = this.settings;
    if (secret === undefined) {
      return { username: null, password: null, ttl, uris: [...this.stunUris], note: TURN_NOT_CONFIGURED };
    }
    const expiry = Math.floor(this.clock.now() / 1000) + ttl;
    const username = `${expiry}:${userId}`;
    const password = createHmac('sha1', secret).update(username).digest('base64');
    return { username, password, ttl, uris: [...this.settings.uris] };
  }
}
