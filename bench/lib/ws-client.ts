import WebSocket from 'ws';

/**
 * Opens an authenticated socket (`?token=`), resolving on open; rejects on error/timeout.
 * `onMessage` is attached before the handshake: a frame the server writes together with
 * its 101 response (the bare server's `connected`) is emitted before code awaiting the
 * open runs, and a listener attached there would miss it.
 */
export function openSocket(httpBase: string, token: string, timeoutMs = 30_000, onMessage?: (data: Buffer) => void): Promise<WebSocket> {
  const url = `${httpBase.replace(/^http/, 'ws')}/api/v1/ws?token=${encodeURIComponent(token)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    if (onMessage) ws.on('message', onMessage);
    const fail = (err: Error) => {
      ws.removeAllListeners('open');
      ws.terminate();
      reject(err);
    };
    ws.once('open', () => {
      ws.removeAllListeners('error');
      ws.on('error', () => {}); // reported through 'close'
      resolve(ws);
    });
    ws.once('error', (err) => fail(new Error(`websocket ${url.replace(/token=[^&]+/, 'token=…')}: ${err.message}`)));
    ws.once('unexpected-response', (_req, res) => fail(new Error(`websocket upgrade refused: HTTP ${res.statusCode}`)));
  });
}

/** Content of a benchmark message: a unique id and the scheduled send time, so any server works. */
export const BENCH_TAG = 'nb|';
export function benchContent(run: string, step: number, sender: number, n: number, sentAt: number): string {
  return `${BENCH_TAG}${run}|${step}|${sender}|${n}|${sentAt.toFixed(3)}`;
}
export function parseBenchContent(content: unknown): { run: string; step: number; sender: number; n: number; sentAt: number } | null {
  if (typeof content !== 'string' || !content.startsWith(BENCH_TAG)) return null;
  const p = content.split('|');
  if (p.length !== 6) return null;
  return { run: p[1]!, step: Number(p[2]), sender: Number(p[3]), n: Number(p[4]), sentAt: Number(p[5]) };
}
