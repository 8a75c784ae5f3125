import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Child processes for tests, benchmarks and scripts: the project's root, a free port,
 * natter's own command line, and a child whose output is kept for waiting on and for
 * error messages. Every child started here is killed when this process exits, even when
 * a test failed half-way.
 */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * tsx's public `tsx` entry (what `node --import tsx` loads), resolved by Node from this
 * project rather than from the child's working directory, so a child runs the TypeScript
 * sources from any folder (a test's temp folder too).
 */
export const TSX_IMPORT = import.meta.resolve('tsx');

/** `node` arguments that run a TypeScript file of the project, e.g. `tsArgs('src/main.ts', 'migrate', 'up')`. */
export function tsArgs(script: string, ...args: string[]): string[] {
  return ['--import', TSX_IMPORT, path.resolve(ROOT, script), ...args];
}

/** A TCP port nothing listens on right now (on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const children = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Synchronous last resort: a crashed or interrupted run leaves no servers behind.
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
}

const OUTPUT_LIMIT = 256 * 1024;

/** One child process with its output (the tail) kept. */
export class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private out = '';

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ) {
    this.child = spawn(command, args, { cwd: opts.cwd ?? ROOT, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    track(this.child);
    const append = (d: Buffer) => {
      this.out += d.toString();
      if (this.out.length > OUTPUT_LIMIT) this.out = this.out.slice(-OUTPUT_LIMIT / 2);
    };
    this.child.stdout!.on('data', append);
    this.child.stderr!.on('data', append);
    this.exited = new Promise((resolve) => {
      if (this.child.exitCode !== null) resolve(this.child.exitCode);
      this.child.once('exit', (code) => resolve(code));
      this.child.once('error', (err) => {
        this.out += `\n[spawn error] ${err.message}`;
        resolve(null);
      });
    });
  }

  /** natter itself (`node --import tsx src/main.ts …args`). */
  static natter(name: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): Proc {
    return new Proc(name, process.execPath, [...(opts.nodeArgs ?? []), ...tsArgs('src/main.ts', ...args)], opts);
  }

  get output(): string {
    return this.out;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  tail(chars = 4000): string {
    return this.out.slice(-chars);
  }

  /** Resolves once the output matches; rejects if the process exits first or time runs out. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.out.match(pattern);
        if (m) finish(() => resolve(m));
        else if (!this.running) finish(() => reject(new Error(`${this.name} exited before ${pattern}:\n${this.tail()}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${this.name}: no ${pattern} within ${timeoutMs} ms:\n${this.tail()}`))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.child.stdout!.off('data', check);
        this.child.stderr!.off('data', check);
        this.child.off('exit', check);
        settle();
      };
      // Listeners added after the appending ones, so `out` already holds the new data.
      this.child.stdout!.on('data', check);
      this.child.stderr!.on('data', check);
      this.child.once('exit', check);
      check();
    });
  }

  /** Sends `signal` and waits for the exit; SIGKILL follows if it takes longer than `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGKILL', graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
