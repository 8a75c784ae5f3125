/**
 * Closed-loop multipart uploads: `count` POSTs of one payload file as the part `file`, at
 * a fixed concurrency. The payload is either read once into one Buffer that every request
 * sends (the many-uploads load: the generator copies nothing per request) or streamed from
 * the file for each request (the big upload: the generator never holds it in memory).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Histogram, clock, type HistogramData } from '../lib/stats.js';

export interface UploadLoadArgs {
  /** The server's origin, http://127.0.0.1:port. */
  url: string;
  /** The request path, /api/v1/conversations/:id/attachments. */
  path: string;
  token?: string;
  payloadFile: string;
  /** true: read the payload into one Buffer once; false: stream it from the file per request. */
  inMemory: boolean;
  count: number;
  concurrency: number;
  /**
   * What a good 201 says in `attachment.size`: the file's bytes (natter parses the
   * multipart body), or the whole body's (the bare server stores the body as it came).
   */
  expect: 'payload' | 'body';
  /** The `attachment.kind` a good answer carries (natter: `file`), if any. */
  expectKind?: string;
  /** Prefix of the part's filename (`<prefix>-<n>.bin`). */
  namePrefix: string;
  /** Read size of the file stream (streamed payloads). */
  chunkBytes?: number;
}

export interface UploadLoadResult {
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  /** 201s whose `attachment.size` (or `kind`) was not the expected one, or that carried no attachment. */
  wrongAnswers: number;
  /** The first 201's body (cut to 1,000 characters), for the results file. */
  firstAnswer: string | null;
  errorSamples: string[];
  /** Payload bytes of the uploads answered 201 (the file's bytes, not the multipart framing). */
  payloadBytesOk: number;
  /** Bytes of request body sent, framing included, over every request. */
  bodyBytesSent: number;
  latency: HistogramData;
  /** clock() when the first request started and the last answer arrived (comparable across processes). */
  startedAt: number;
  finishedAt: number;
  /** This process's CPU seconds (user + system) over the run. */
  generatorCpuS: number;
}

/** The multipart framing around one file part; the boundary is checked against the payload. */
export function multipartFrame(boundary: string, filename: string): { head: Buffer; tail: Buffer; contentType: string } {
  return {
    head: Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    tail: Buffer.from(`\r\n--${boundary}--\r\n`),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

interface Answer {
  status: number;
  text: string;
}

function post(agent: http.Agent, url: URL, headers: http.OutgoingHttpHeaders, body: Readable): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(url, { method: 'POST', agent, headers, timeout: 120_000 }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no progress for 120 s')));
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    // A server may answer (413) before it has read the body and close the connection: the
    // write then fails, and the answer is what counts.
    pipeline(body, req).catch((err: unknown) => {
      if (!answered) req.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });
}

export async function uploadLoad(a: UploadLoadArgs): Promise<UploadLoadResult> {
  const size = statSync(a.payloadFile).size;
  const payload = a.inMemory ? readFileSync(a.payloadFile) : undefined;
  const boundary = `natterbench${randomBytes(12).toString('hex')}`;
  if (payload && payload.includes(`--${boundary}`)) throw new Error('the payload holds the multipart boundary; run again');
  const agent = new http.Agent({ keepAlive: true, maxSockets: a.concurrency });
  const latency = new Histogram();
  const statuses: Record<string, number> = {};
  const errorSamples: string[] = [];
  let ok = 0;
  let failed = 0;
  let wrongAnswers = 0;
  let payloadBytesOk = 0;
  let bodyBytesSent = 0;
  let firstAnswer: string | null = null;
  let next = 0;
  const cpu0 = process.cpuUsage();
  const startedAt = clock();
  const sample = (s: string) => errorSamples.length < 5 && errorSamples.push(s.slice(0, 300));
  await Promise.all(
    Array.from({ length: Math.min(a.concurrency, a.count) }, async () => {
      while (next < a.count) {
        const n = next++;
        const frame = multipartFrame(boundary, `${a.namePrefix}-${n}.bin`);
        const length = frame.head.length + size + frame.tail.length;
        const parts: Iterable<Buffer> | AsyncIterable<Buffer> = payload
          ? [frame.head, payload, frame.tail]
          : (async function* () {
              yield frame.head;
              for await (const chunk of createReadStream(a.payloadFile, { highWaterMark: a.chunkBytes ?? 1 << 20 })) yield chunk as Buffer;
              yield frame.tail;
            })();
        const headers: http.OutgoingHttpHeaders = { 'content-type': frame.contentType, 'content-length': length };
        if (a.token) headers.authorization = `Bearer ${a.token}`;
        const start = clock();
        try {
          const res = await post(agent, new URL(a.path, a.url), headers, Readable.from(parts, { objectMode: false }));
          latency.record(clock() - start);
          bodyBytesSent += length;
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status !== 201) {
            failed++;
            sample(`HTTP ${res.status}: ${res.text}`);
            continue;
          }
          ok++;
          payloadBytesOk += size;
          firstAnswer ??= res.text.slice(0, 1000);
          let att: { size?: unknown; kind?: unknown } | undefined;
          try {
            att = (JSON.parse(res.text) as { attachment?: { size?: unknown; kind?: unknown } }).attachment;
          } catch {
            att = undefined;
          }
          const want = a.expect === 'payload' ? size : length;
          if (!att || Number(att.size) !== want || (a.expectKind !== undefined && att.kind !== a.expectKind)) {
            wrongAnswers++;
            sample(`201 with attachment.size ${String(att?.size)} kind ${String(att?.kind)}, expected ${want}${a.expectKind ? ` ${a.expectKind}` : ''}: ${res.text}`);
          }
        } catch (err) {
          failed++;
          statuses.error = (statuses.error ?? 0) + 1;
          sample(err instanceof Error ? err.message : String(err));
        }
      }
    }),
  );
  const finishedAt = clock();
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  return {
    ok,
    failed,
    statuses,
    wrongAnswers,
    firstAnswer,
    errorSamples,
    payloadBytesOk,
    bodyBytesSent,
    latency: latency.toJSON(),
    startedAt,
    finishedAt,
    generatorCpuS: Math.round(((cpu.user + cpu.system) / 1e6) * 100) / 100,
  };
}
