import { testDatabaseUrl } from '../harness/postgres.js';
import { ensureWebBuild } from './web-build.js';

/**
 * Once per run, before any test file: the web app is built when the browser tests will
 * run (on PostgreSQL) and web/dist is missing or stale. Building here rather than in
 * each browser file keeps two files from rebuilding web/dist under each other's server.
 */
export default function setup(): void {
  if (testDatabaseUrl()) ensureWebBuild();
}
