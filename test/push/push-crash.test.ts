import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { freePort, Proc, sleep } from '../../support/processes.js';
import { testDatabaseUrl, urlForDatabase, withAdmin } from '../harness/postgres.js';
import { FcmServer, makeServiceAccount } from '../harness/push-peers.js';

/**
 * The outbox's promise under a crash: a message acknowledged to its sender has its push
 * row committed with it, so a node killed (SIGKILL) before the push left still sends it,
 * once, when it comes back. A separate natter process on PostgreSQL, an FCM peer on loopback.
 */

const pgUrl = testDatabaseUrl();
let dir: string;
let dbName: string;
let fcm: FcmServer;
let env: NodeJS.ProcessEnv;
let base: string;
let node: Proc | undefined;

beforeAll(async () => {
  if (!pgUrl) return;
  dir = mkdtempSync(path.join(tmpdir(), 'natter-push-crash-'));
  const { serviceAccount, publicKey } = makeServiceAccount('natter-crash');
  const accountFile = path.join(dir, 'service-account.json');
  writeFileSync(accountFile, JSON.stringify(serviceAccount));
  fcm = await FcmServer.start({ projectId: 'natter-crash', clientEmail: serviceAccount.client_email, publicKey });
  dbName = `natter_push_crash_${randomBytes(4).toString('hex')}`;
  await withAdmin(pgUrl, (admin) => admin.query(`create database ${dbName}`));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATA_DIR: path.join(dir, 'data'),
    DATABASE_URL: urlForDatabase(pgUrl, dbName),
    PUSH_DELAY: '1500ms',
    FCM_SERVICE_ACCOUNT_FILE: accountFile,
    FCM_ENDPOINT: fcm.endpoint,
    FCM_TOKEN_URL: fcm.tokenUrl,
  };
  delete env.TEST_DATABASE_URL;
}, 60_000);

afterAll(async () => {
  await node?.stop('SIGKILL');
  await fcm?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (pgUrl && dbName) await withAdmin(pgUrl, (admin) => admin.query(`drop database if exists ${dbName} with (force)`));
});

async function startNode(): Promise<Proc> {
  const proc = Proc.natter('natter', [], { env });
  // LOG_LEVEL=warn hides the ready line; /ready answering is the sign.
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/ready`)).status === 200) return proc;
    } catch {
      // not listening yet
    }
    if (!proc.running) throw new Error(`natter exited:\n${proc.tail()}`);
    if (Date.now() > until) throw new Error(`natter not ready:\n${proc.tail()}`);
    await sleep(100);
  }
}

async function call(method: string, route: string, body?: unknown, token?: string): Promise<any> {
  const res = await fetch(`${base}/api/v1${route}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

test.skipIf(!pgUrl)('a node killed right after a commit sends the push when it is back, once', async () => {
  node = await startNode();
  const register = (name: string) =>
    call('POST', '/auth/register', { username: `${name}${randomBytes(3).toString('hex')}`, email: `${name}${randomBytes(3).toString('hex')}@example.com`, password: 'password123' });
  const alice = await register('alice');
  const bob = await register('bob');
  const phone = `fcm-${randomBytes(16).toString('hex')}`;
  await call('POST', '/devices', { platform: 'fcm', token: phone }, bob.token);
  const { conversation } = await call('POST', '/conversations', { type: 'direct', participant_id: bob.user.id }, alice.token);

  const { message } = await call('POST', `/conversations/${conversation.id}/messages`, { content: 'survives a crash' }, alice.token);
  // Acknowledged, so committed; the push is 1.5 s away. Kill the node before it leaves.
  await node.stop('SIGKILL');
  expect(fcm.received).toEqual([]);

  node = await startNode();
  const [push] = await fcm.waitFor(1, 15_000);
  expect(push!.message.token).toBe(phone);
  expect(push!.message.notification.body).toBe('survives a crash');
  expect(push!.message.data.message_id).toBe(String(message.id));
  await sleep(2500);
  expect(fcm.received).toHaveLength(1);
}, 120_000);
