import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AttachmentLinks } from '../domain/attachments.js';
import type { Clock } from '../domain/clock.js';
import { AppError } from '../domain/errors.js';

export type LinkVariant = 'file' | 'thumbnail';

/**
 * Capability URLs for attachment bytes: `…/attachments/:id[/thumbnail]?expires=&signature=`,
 * where the signature is an HMAC-SHA256 over (id, variant, expiry). Whoever holds such a
 * URL may fetch those bytes until it expires, with no Authorization header, which is what
 * `<img src>`, Flutter's `Image.network` and video players need; access itself is decided
 * when the URL is handed out, to members only.
 *
 * Expiries are rounded up to a step (a tenth of the lifetime, at least a minute), so a
 * message serialised many times within one step carries the same URL and clients' HTTP
 * caches hit; every URL handed out is valid for at least the full lifetime.
 *
 * The key is derived from JWT_SECRET, which every node shares already.
 */
export class AttachmentSigner implements AttachmentLinks {
  private readonly key: Buffer;
  private readonly stepSeconds: number;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
    private readonly clock: Clock,
    /** Prefix of every URL: PUBLIC_URL + the API prefix, or just the API prefix. */
    private readonly base: string,
  ) {
    this.key = createHmac('sha256', secret).update('natter attachment urls v1').digest();
    this.stepSeconds = Math.max(60, Math.floor(ttlSeconds / 10));
  }

  url(id: number, variant: LinkVariant): string {
    const nowSeconds = Math.floor(this.clock.now() / 1000);
    const expires = (Math.floor((nowSeconds + this.ttlSeconds) / this.stepSeconds) + 1) * this.stepSeconds;
    const path = variant === 'file' ? `${this.base}/attachments/${id}` : `${this.base}/attachments/${id}/thumbnail`;
    return `${path}?expires=${expires}&signature=${this.sign(id, variant, expires)}`;
  }

  /**
   * Checks a presented signature: throws forbidden when it is not ours for this id and
   * variant (tampered, or for another file), url_expired when it was but has expired.
   */
  verify(id: number, variant: LinkVariant, expires: number, signature: string): void {
    const expected = Buffer.from(this.sign(id, variant, expires));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError('forbidden', 'The link\'s signature is not valid');
    }
    if (expires * 1000 <= this.clock.now()) {
      throw new AppError('url_expired', 'The link has expired; fetch the message again for a fresh one');
    }
  }

  private sign(id: number, variant: LinkVariant, expires: number): string {
    return createHmac('sha256', this.key).update(`${id}:${variant}:${expires}`).digest('base64url');
  }
}
