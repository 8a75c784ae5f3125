/**
 * The push benchmark's FCM: a service-account file natter signs its OAuth assertions
 * with, and the lean receiver (bench/baseline/fcm-receiver.ts) in its own process that
 * verifies them and counts receipts per device token.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeServiceAccount } from '../../test/harness/push-peers.js';
import { freePort, Proc, tsArgs } from '../../support/processes.js';
import { onCleanup } from './cleanup.js';

export interface ReceiverStats {
  received: number;
  distinct: number;
  refused: number;
  token_requests: number;
  /** ms since the epoch (this machine's clock). */
  first_at: number | null;
  /** When the last token got its first push. */
  last_new_at: number | null;
  last_at: number | null;
}

export interface FcmReceiver {
  url: string;
  pid: number;
  /** natter's settings for this receiver: FCM_SERVICE_ACCOUNT_FILE, FCM_ENDPOINT, FCM_TOKEN_URL. */
  env: Record<string, string>;
  stats(): Promise<ReceiverStats>;
  counts(): Promise<Record<string, number>>;
  /** [bucket start ms, receipts] per 100 ms. */
  timeline(): Promise<[number, number][]>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

async function get<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export async function startFcmReceiver(): Promise<FcmReceiver> {
  const projectId = 'natter-bench';
  const { serviceAccount, publicKey } = makeServiceAccount(projectId);
  const dir = mkdtempSync(path.join(tmpdir(), 'natter-bench-fcm-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'service-account.json');
  writeFileSync(file, JSON.stringify(serviceAccount), { mode: 0o600 });
  const port = await freePort();
  const proc = new Proc('fcm receiver', process.execPath, tsArgs('bench/baseline/fcm-receiver.ts'), {
    env: {
      ...process.env,
      PORT: String(port),
      PROJECT_ID: projectId,
      CLIENT_EMAIL: serviceAccount.client_email,
      PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    },
  });
  const stop = () => proc.stop('SIGTERM', 5_000);
  const remove = onCleanup(stop);
  proc.child.once('exit', () => remove());
  await proc.waitFor(/fcm receiver ready/, 30_000);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    pid: proc.child.pid!,
    env: { FCM_SERVICE_ACCOUNT_FILE: file, FCM_ENDPOINT: url, FCM_TOKEN_URL: `${url}/token` },
    stats: () => get<ReceiverStats>(`${url}/stats`),
    counts: () => get<Record<string, number>>(`${url}/counts`),
    timeline: () => get<[number, number][]>(`${url}/timeline`),
    reset: async () => {
      await fetch(`${url}/reset`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
    },
    stop,
  };
}
