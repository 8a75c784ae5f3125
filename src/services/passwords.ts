import { hash, verify, type Options } from '@node-rs/argon2';

// argon2id with OWASP's baseline (19 MiB, 2 passes, 1 lane). The package's Algorithm
// enum is a const enum, which ESM builds cannot import; 2 is its Argon2id.
const ARGON2ID: Options = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 };

export const hashPassword = (password: string): Promise<string> => hash(password, ARGON2ID);

/** False for a wrong password and for a malformed hash alike. */
export const verifyPassword = (passwordHash: string, password: string): Promise<boolean> =>
  verify(passwordHash, password).catch(() => false);
