/**
 * The bare upload server: the least a server can do with an upload — every POST's body
 * piped straight into a new file (`stream.pipeline(req, fs.createWriteStream(…))`) in
 * UPLOAD_DIR, then 201. No multipart parsing, no auth, no database, no type sniffing.
 * UPLOAD_DIR lies on the filesystem natter's DATA_DIR is on, so both write to the same
 * disk; what it sustains is the ceiling of node's http + the disk on this machine.
 *
 * With SINK=discard it writes nothing (the body is read and dropped): that run measures
 * the generator and loopback alone, to show the generator is not the bottleneck.
 *
 * Answers `{"attachment": {"id", "size"}}` with size = the body's bytes (framing included).
 */
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const dir = process.env.UPLOAD_DIR ?? '';
const discard = process.env.SINK === 'discard';
if (!dir && !discard) throw new Error('UPLOAD_DIR is required (or SINK=discard)');
let nextId = 1;

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') return json(res, 404, { error: 'not found', code: 'not_found' });
  const id = nextId++;
  let dropped = 0;
  const file = discard ? undefined : createWriteStream(path.join(dir, `${id}.bin`));
  const sink =
    file ??
    new Writable({
      write: (c: Buffer, _e, done) => {
        dropped += c.length;
        done();
      },
    });
  pipeline(req, sink).then(
    () => json(res, 201, { attachment: { id, size: file ? file.bytesWritten : dropped } }),
    (err: unknown) => {
      if (!res.headersSent && !req.destroyed) json(res, 500, { error: err instanceof Error ? err.message : String(err), code: 'internal' });
    },
  );
});
// A 1 GB upload takes longer than node's default request timeout (300 s) on a slow disk.
server.requestTimeout = 0;
server.keepAliveTimeout = 30_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`bare upload ready on ${(server.address() as { port: number }).port} (${discard ? 'discarding' : `writing into ${dir}`})`);
});
