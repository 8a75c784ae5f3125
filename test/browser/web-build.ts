import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The web app's build for the browser tests, made once per run by
 * test/browser/global-setup.ts (global setup runs where support/processes.ts cannot be
 * loaded, so this file stands alone).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WEB = path.join(ROOT, 'web');

function newest(dir: string): number {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const stat = statSync(path.join(dir, rel));
    if (stat.isFile()) latest = Math.max(latest, stat.mtimeMs);
  }
  return latest;
}

/**
 * Builds the web app (Vite) when web/dist is missing or older than its sources or the
 * SDK's, so the tests always drive the code as it is; an up-to-date build is reused.
 */
export function ensureWebBuild(): void {
  const built = path.join(WEB, 'dist', 'index.html');
  const sources = Math.max(
    newest(path.join(WEB, 'src')),
    newest(path.join(WEB, 'public')),
    newest(path.join(ROOT, 'client', 'src')),
    statSync(path.join(WEB, 'index.html')).mtimeMs,
    statSync(path.join(WEB, 'vite.config.ts')).mtimeMs,
  );
  if (existsSync(built) && statSync(built).mtimeMs >= sources) return;
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], {
    cwd: WEB,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}
