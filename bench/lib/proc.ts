import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the "(comm)" part; utime and stime are fields 14 and 15 (1-based).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Resident set size in bytes, from /proc/<pid>/status VmRSS. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Machine-wide busy and total jiffies from /proc/stat, for CPU utilisation over an interval. */
export function machineTicks(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Measures a process's CPU and the machine's utilisation between start() and stop(). */
export class CpuMeter {
  private cpu0: number | null = null;
  private m0: { busy: number; total: number } | null = null;
  constructor(private readonly pid: number | undefined) {}
  start(): void {
    this.cpu0 = this.pid ? cpuSeconds(this.pid) : null;
    this.m0 = machineTicks();
  }
  stop(): { server_cpu_s: number | null; machine_busy_pct: number | null } {
    const cpu1 = this.pid ? cpuSeconds(this.pid) : null;
    const m1 = machineTicks();
    return {
      server_cpu_s: cpu1 !== null && this.cpu0 !== null ? Math.round((cpu1 - this.cpu0) * 100) / 100 : null,
      machine_busy_pct:
        m1 && this.m0 && m1.total > this.m0.total
          ? Math.round(((m1.busy - this.m0.busy) / (m1.total - this.m0.total)) * 1000) / 10
          : null,
    };
  }
}
