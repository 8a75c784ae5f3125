import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { freePort, Proc } from '../../support/processes.js';
import { testDatabaseUrl, urlForDatabase, withAdmin } from '../harness/postgres.js';

/**
 * Real-browser tests: Debian's Chromium driven by playwright-core against a natter
 * process on PostgreSQL that serves the built web app, as a person would use it.
 *
 * They run in the PostgreSQL pass (TEST_DATABASE_URL set) and are skipped, with the
 * reason, in the PGlite one. Without Chromium they skip locally with a message saying how
 * to get it; in CI (CI=true) a missing Chromium fails the run instead of hiding it.
 */

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Why the browser tests cannot run here (undefined: they can). Throws in CI without Chromium. */
export function browserSkipReason(): string | undefined {
  if (!testDatabaseUrl()) return 'the browser tests run on PostgreSQL: set TEST_DATABASE_URL';
  if (!existsSync(CHROMIUM)) {
    const how = `Chromium not found at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`;
    if (process.env.CI) throw new Error(how);
    return how;
  }
  return undefined;
}

/** natter as an operator runs it, on a scratch PostgreSQL database, serving web/dist. */
export class NatterServer {
  private constructor(
    readonly url: string,
    private readonly proc: Proc,
    private readonly dir: string,
    private readonly dbName: string,
  ) {}

  static async start(): Promise<NatterServer> {
    const pgUrl = testDatabaseUrl()!;
    const dbName = `natter_web_${randomBytes(4).toString('hex')}`;
    await withAdmin(pgUrl, (admin) => admin.query(`create database ${dbName}`));
    const dir = mkdtempSync(path.join(tmpdir(), 'natter-browser-'));
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: urlForDatabase(pgUrl, dbName),
      DATA_DIR: path.join(dir, 'data'),
      // info: the "natter is ready" line is what start-up is awaited by.
      LOG_LEVEL: 'info',
      AUTH_RATE_LIMIT: '0',
      PRESENCE_GRACE: '1s',
      // Far beyond the app's own 6 s: a typing indicator that goes away was stopped, not expired.
      TYPING_TIMEOUT: '60s',
    };
    // The working directory is a scratch folder, so no stray .env is read.
    const proc = Proc.natter('natter-web', [], { cwd: dir, env });
    const server = new NatterServer(`http://127.0.0.1:${port}`, proc, dir, dbName);
    try {
      await proc.waitFor(/natter is ready/, 60_000);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get output(): string {
    return this.proc.tail();
  }

  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
    await withAdmin(testDatabaseUrl()!, (admin) => admin.query(`drop database if exists ${this.dbName} with (force)`));
  }
}

/** Chromium; `args` adds switches (the call tests' fake camera and microphone, say). */
export function launchChromium(args: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu', '--disable-dev-shm-usage', ...args] });
}

/** Chromium's fake camera and microphone, allowed without a prompt: what the call tests run with. */
export const FAKE_MEDIA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

/** One person: a browser context of their own (cookies, storage) and a page in it. */
export interface Person {
  name: string;
  email: string;
  context: BrowserContext;
  page: Page;
}

export async function person(browser: Browser, base: string, name: string, opts: { permissions?: string[] } = {}): Promise<Person> {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 }, colorScheme: 'light', ...opts });
  const page = await context.newPage();
  return { name, email: `${name}@example.com`, context, page };
}

const WAIT = 15_000;

/** Waits until the locator shows (auto-waiting: no fixed sleep). */
export function sees(locator: Locator, timeout = WAIT): Promise<void> {
  return locator.first().waitFor({ state: 'visible', timeout });
}

/** Waits until nothing matches the locator any more (or it is hidden). */
export function stopsSeeing(locator: Locator, timeout = WAIT): Promise<void> {
  return locator.first().waitFor({ state: 'hidden', timeout });
}

/** The composer, a message in the open chat, a chat in the list, by what they are called. */
export const composer = (p: Page) => p.getByRole('textbox', { name: 'Message' });
export const message = (p: Page, text: string | RegExp) => p.getByRole('listitem', { name: text });
export const chatRow = (p: Page, title: string) =>
  p.getByRole('navigation', { name: 'Conversations' }).getByRole('link').filter({ has: p.getByText(title, { exact: true }) });

/** Types a message into the open chat and sends it with Enter. */
export async function send(p: Page, text: string): Promise<void> {
  await composer(p).fill(text);
  await composer(p).press('Enter');
}

/** Makes the person's account on the sign-up form; they land on their (empty) list. */
export async function signUp(who: Person): Promise<void> {
  await who.page.goto('/');
  await who.page.getByRole('button', { name: 'Create an account' }).click();
  await who.page.getByLabel('Username').fill(who.name);
  await who.page.getByLabel('Email').fill(who.email);
  await who.page.getByLabel('Password').fill('password123');
  await who.page.getByRole('button', { name: 'Create account' }).click();
  await sees(who.page.getByRole('navigation', { name: 'Conversations' }));
}

/** `from` finds `to` under New chat and opens their direct chat. */
export async function openDirectChat(from: Person, to: Person): Promise<void> {
  await from.page.getByRole('button', { name: 'New chat' }).click();
  await from.page.getByLabel('Search people').fill(to.name);
  await from.page.getByRole('button', { name: new RegExp(to.name) }).click();
  await sees(from.page.getByRole('heading', { name: to.name }));
}
