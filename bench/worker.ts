/**
 * A load-generator process, forked by the parent (bench/lib/workers.ts). It holds sockets
 * and runs the load it is told to; it keeps no state between runs other than its fleet.
 */
import { Fleet, type SocketSpec, type StepArgs } from './gen/fleet.js';
import { historyLoad, type HistoryLoadArgs } from './gen/http-load.js';
import { resume, type ResumeArgs } from './gen/resume.js';
import { searchHttpLoad, searchRawLoad, type SearchHttpArgs, type SearchRawArgs } from './gen/search-load.js';
import { uploadLoad, type UploadLoadArgs } from './gen/upload-load.js';

const fleet = new Fleet();

const handlers: Record<string, (args: never) => Promise<unknown>> = {
  ping: async () => ({ pid: process.pid }),
  connect: (a: { url: string; sockets: SocketSpec[]; concurrency: number; ack?: boolean }) => fleet.connect(a.url, a.sockets, a.concurrency, a.ack),
  status: async () => ({ sockets: fleet.socks.length, connected: fleet.connectedFrames, closed: fleet.closed }),
  send: (a: StepArgs) => fleet.send(a),
  collect: (a: { convTotals: Record<string, number>; sent: Record<string, number>; deadline: number }) =>
    fleet.collect(a.convTotals, a.sent, a.deadline),
  close: () => fleet.closeAll(),
  history: (a: HistoryLoadArgs) => historyLoad(a),
  resume: (a: ResumeArgs) => resume(a),
  searchHttp: (a: SearchHttpArgs) => searchHttpLoad(a),
  searchRaw: (a: SearchRawArgs) => searchRawLoad(a),
  upload: (a: UploadLoadArgs) => uploadLoad(a),
};

process.on('message', (m: { id: number; cmd: string; args: unknown }) => {
  const handler = handlers[m.cmd];
  if (!handler) {
    process.send!({ id: m.id, ok: false, error: `unknown command ${m.cmd}` });
    return;
  }
  handler(m.args as never).then(
    (result) => process.send!({ id: m.id, ok: true, result }),
    (err: unknown) => process.send!({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
// The parent going away ends the generator too.
process.on('disconnect', () => process.exit(0));
