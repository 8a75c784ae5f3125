// http_ece ships no types; these are the two calls the Web Push test peer makes (it comes
// with web-push, which encrypts with it).
declare module 'http_ece' {
  import type { ECDH } from 'node:crypto';

  export interface EceParams {
    version?: 'aes128gcm' | 'aesgcm';
    /** The receiver's key pair when decrypting (the sender's when encrypting). */
    privateKey?: ECDH;
    /** The other side's public key; for aes128gcm decryption it is read from the body. */
    dh?: string | Buffer;
    authSecret?: string | Buffer;
    salt?: string | Buffer;
    rs?: number;
  }

  /** Throws when the body does not decrypt (wrong key, tampered, truncated). */
  export function decrypt(buffer: Buffer, params: EceParams): Buffer;
  export function encrypt(buffer: Buffer, params: EceParams): Buffer;
}
