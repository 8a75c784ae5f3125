/**
 * The parent's side of the load generators: N forked processes (bench/worker.ts) that
 * hold the sockets and generate the load, so the generator never shares an event loop
 * with the server nor with the coordinator. Requests are {id, cmd, args}; replies
 * {id, ok, result | error}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { onCleanup } from './cleanup.js';
import { ROOT, TSX_IMPORT } from '../../support/processes.js';

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export class WorkerPool {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(private readonly children: ChildProcess[]) {
    for (const child of children) {
      child.on('message', (m: Reply) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.result);
        else p.reject(new Error(`generator: ${m.error}`));
      });
      child.on('exit', (code, signal) => {
        if (this.pending.size && (code !== 0 || signal)) {
          for (const p of this.pending.values()) p.reject(new Error(`generator process exited (${code ?? signal})`));
          this.pending.clear();
        }
      });
    }
  }

  static async start(count: number): Promise<WorkerPool> {
    const children: ChildProcess[] = [];
    for (let i = 0; i < count; i++) {
      const child = fork(path.join(ROOT, 'bench/worker.ts'), [String(i)], {
        execArgv: ['--import', TSX_IMPORT, '--max-old-space-size=2048'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      onCleanup(() => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        return exited.then(() => {});
      });
      process.once('exit', () => child.exitCode === null && child.kill('SIGKILL'));
    }
    const pool = new WorkerPool(children);
    await Promise.all(children.map((_, i) => pool.call(i, 'ping', {}, 30_000)));
    return pool;
  }

  get size(): number {
    return this.children.length;
  }

  pids(): number[] {
    return this.children.map((c) => c.pid!);
  }

  call<T = unknown>(worker: number, cmd: string, args: unknown, timeoutMs = 600_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`generator ${worker}: "${cmd}" timed out after ${timeoutMs / 1000}s`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.children[worker]!.send({ id, cmd, args });
    });
  }

  all<T = unknown>(cmd: string, args: (worker: number) => unknown, timeoutMs?: number): Promise<T[]> {
    return Promise.all(this.children.map((_, i) => this.call<T>(i, cmd, args(i), timeoutMs)));
  }
}

/** Splits items round-robin into n lists. */
export function split<T>(items: T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: n }, () => []);
  items.forEach((item, i) => out[i % n]!.push(item));
  return out;
}
