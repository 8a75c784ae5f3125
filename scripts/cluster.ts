/**
 * Starts a local natter cluster: N node processes on consecutive ports, sharing the
 * PostgreSQL in DATABASE_URL and the bus in BUS (redis by default), with presence in Redis
 * (REDIS_URL) whatever the bus — for trying scale-out. (test/scale starts its own nodes.) Put a load balancer in front (docs/scaling.md has an nginx
 * example) or point clients at the nodes directly.
 *
 *   DATABASE_URL=postgres://… npm run cluster -- --nodes 3 [--port 8081] [--bus redis|nats]
 *
 * Ctrl-C (SIGINT/SIGTERM) stops every node gracefully.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { ROOT, tsArgs } from '../support/processes.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    port: { type: 'string', default: '8081' },
    bus: { type: 'string' },
  },
});
const count = Number(values.nodes);
const basePort = Number(values.port);
if (!Number.isInteger(count) || count < 1 || count > 32 || !Number.isInteger(basePort)) {
  console.error('usage: npm run cluster -- --nodes N (1-32) [--port FIRST_PORT] [--bus redis|nats]');
  process.exit(2);
}
if (!process.env.DATABASE_URL) {
  console.error('DATABASE_URL must point at the PostgreSQL server the nodes share (the embedded database is one-node only).');
  process.exit(2);
}
const bus = values.bus ?? process.env.BUS ?? 'redis';
// Online counts must be shared by the nodes; PRESENCE=auto would pick per-node memory with
// BUS=nats (and every node would mark everyone offline as it starts).
const presence = process.env.PRESENCE ?? (count > 1 ? 'redis' : 'auto');
function run(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, tsArgs('src/main.ts', ...args), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

// Migrate once up front, so the nodes start on a ready schema.
const migrate = run(['migrate', 'up'], {});
const migrated = await new Promise<number | null>((resolve) => migrate.on('exit', resolve));
if (migrated !== 0) process.exit(1);

const children: ChildProcess[] = [];
for (let i = 0; i < count; i++) {
  const port = basePort + i;
  const child = run([], { PORT: String(port), BUS: bus, PRESENCE: presence, MIGRATE_ON_START: 'false' });
  children.push(child);
  console.log(`node ${i + 1}: http://127.0.0.1:${port}  (pid ${child.pid}, BUS=${bus}, PRESENCE=${presence})`);
}

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  for (const child of children) child.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await Promise.all(children.map((c) => new Promise((resolve) => c.on('exit', resolve))));
