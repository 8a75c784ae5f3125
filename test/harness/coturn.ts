import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Debian's coturn (`apt-get install coturn`), run on loopback for tests that relay calls
 * through a real TURN server. Without it the tests skip locally with a message saying how
 * to get it; in CI (CI=true) a missing coturn fails the run instead of hiding it.
 */
export const TURNSERVER = process.env.TURNSERVER_PATH || '/usr/bin/turnserver';

/** Why the coturn tests cannot run here (undefined: they can). Throws in CI without coturn. */
export function coturnSkipReason(): string | undefined {
  if (existsSync(TURNSERVER)) return undefined;
  const how = `coturn not found at ${TURNSERVER}: apt-get install coturn, or set TURNSERVER_PATH`;
  if (process.env.CI) throw new Error(how);
  return how;
}

export interface Coturn {
  /** The UDP (and TCP) port it listens on, on 127.0.0.1. */
  port: number;
  /** `turn:127.0.0.1:<port>?transport=udp`. */
  uri: string;
  /** Everything it logged so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/** A UDP port nothing listens on right now: bound to 0 and released. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Whether a STUN Binding request to 127.0.0.1:port gets a success response within `ms`. */
async function stunAnswers(port: number, ms: number): Promise<boolean> {
  const socket = createSocket('udp4');
  const transaction = randomBytes(12);
  // RFC 5389: Binding request (0x0001), no attributes, the magic cookie, a transaction id.
  const request = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), transaction]);
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      socket.on('message', (msg) => {
        if (msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && msg.subarray(8, 20).equals(transaction)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      socket.on('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      socket.send(request, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/**
 * Starts coturn on 127.0.0.1 with the TURN REST API secret (`use-auth-secret`), relaying on
 * 127.0.0.1 (loopback peers allowed, which production must never do), no TLS/DTLS, no CLI,
 * its database and pid file in a folder of its own. Resolves once it answers STUN.
 */
export async function startCoturn(secret: string, realm = 'natter.test'): Promise<Coturn> {
  const dir = mkdtempSync(path.join(tmpdir(), 'natter-coturn-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freeUdpPort();
    let output = '';
    const child: ChildProcess = spawn(
      TURNSERVER,
      [
        '-n',
        '--listening-ip=127.0.0.1',
        '--relay-ip=127.0.0.1',
        `--listening-port=${port}`,
        '--use-auth-secret',
        `--static-auth-secret=${secret}`,
        `--realm=${realm}`,
        '--no-tls',
        '--no-dtls',
        '--no-cli',
        '--allow-loopback-peers',
        '--log-file=stdout',
        '--simple-log',
        `--userdb=${path.join(dir, 'turndb')}`,
        `--pidfile=${path.join(dir, 'turnserver.pid')}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));

    const stop = async () => {
      if (!gone) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killer);
      }
    };
    const deadline = Date.now() + 15_000;
    let ready = false;
    while (!gone && !ready && Date.now() < deadline) ready = await stunAnswers(port, 200);
    if (ready) {
      return {
        port,
        uri: `turn:127.0.0.1:${port}?transport=udp`,
        log: () => output,
        stop: async () => {
          await stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await stop();
    // The port may have been taken between release and bind: try another, a few times.
    if (attempt >= 3) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`coturn did not answer STUN on 127.0.0.1:${port} within 15 s:\n${output.slice(-4000)}`);
    }
  }
}
