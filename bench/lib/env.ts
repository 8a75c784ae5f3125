/** What the figures were measured on: machine, runtime, database, server settings, commit. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { ROOT, withPg } from './spawn.js';

export async function describeEnvironment(opts: {
  databaseKind: string;
  databaseUrl?: string;
  bus?: string;
  server: Record<string, string>;
  target: string;
  spawned: boolean;
  generators: number;
}): Promise<Record<string, unknown>> {
  let commit: string | null = null;
  let dirty = false;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  } catch {
    /* not a git checkout */
  }
  let pgVersion: string | null = null;
  if (opts.databaseUrl) {
    pgVersion = await withPg(opts.databaseUrl, async (c) => (await c.query<{ v: string }>('show server_version')).rows[0]!.v).catch(() => null);
  }
  const cpus = os.cpus();
  return {
    cpu_model: cpus[0]?.model ?? 'unknown',
    cpu_count: cpus.length,
    total_memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    load_average_at_end: os.loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    database: opts.databaseKind,
    postgresql_version: pgVersion,
    bus: opts.bus ?? null,
    target: opts.target,
    spawned: opts.spawned,
    generator_processes: opts.generators,
    server_config: opts.server,
    git_commit: commit,
    src_uncommitted_changes: dirty,
  };
}
