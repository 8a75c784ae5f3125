/**
 * One place that knows every child process and scratch resource the run created, and
 * takes them down on normal exit, on an error, and on SIGINT/SIGTERM.
 */
type Task = () => Promise<void> | void;
const tasks: Task[] = [];
let running: Promise<void> | undefined;

export function onCleanup(task: Task): () => void {
  tasks.push(task);
  return () => {
    const i = tasks.indexOf(task);
    if (i >= 0) tasks.splice(i, 1);
  };
}

export function cleanup(): Promise<void> {
  return (running ??= (async () => {
    while (tasks.length) {
      const task = tasks.pop()!;
      try {
        await Promise.race([task(), new Promise((r) => setTimeout(r, 15_000))]);
      } catch (err) {
        console.error('cleanup:', err instanceof Error ? err.message : err);
      }
    }
  })());
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}
