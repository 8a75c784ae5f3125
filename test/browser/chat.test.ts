import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ROOT } from '../../support/processes.js';
import {
  browserSkipReason,
  chatRow,
  composer,
  launchChromium,
  message,
  NatterServer,
  openDirectChat,
  person,
  sees,
  send,
  signUp,
  stopsSeeing,
  type Person,
} from './harness.js';

/**
 * Alice and Bob chat in two browser contexts of a real Chromium, through the web app that
 * natter serves: everything is done by clicking and typing, and checked by what the page
 * shows. The steps build on each other and run in order.
 */

const skip = browserSkipReason();
if (skip) console.warn(`browser tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)('the web app in a real browser', () => {
  let server: NatterServer;
  let browser: Browser;
  let alice: Person;
  let bob: Person;
  const tag = Math.random().toString(36).slice(2, 7);

  beforeAll(async () => {
    // Settled one by one: whichever started is kept, so afterAll stops it if the other failed.
    const [started, launched] = await Promise.allSettled([NatterServer.start(), launchChromium()]);
    if (started.status === 'fulfilled') server = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw launched.reason;
    alice = await person(browser, server.url, `alice${tag}`);
    bob = await person(browser, server.url, `bob${tag}`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });


  test('both sign up, and Alice opens a direct chat with Bob', async () => {
    for (const who of [alice, bob]) await signUp(who);
    await openDirectChat(alice, bob);
    expect(alice.page.url()).toMatch(/\/c\/\d+$/);
  }, 60_000);

  test("Alice's message reaches Bob live; her ticks go to delivered, then to read when he opens the chat", async () => {
    await send(alice.page, 'Hello Bob');
    // Bob is on his list: the new chat appears with the message and one unread.
    const row = chatRow(bob.page, alice.name);
    await sees(row.getByText('Hello Bob'));
    await sees(row.getByLabel('1 unread'));
    await sees(message(alice.page, /Hello Bob/).getByLabel('Delivered'));
    await row.click();
    await sees(message(bob.page, /Hello Bob/));
    await sees(message(alice.page, /Hello Bob/).getByLabel('Read'));
    // The open chat's row never shows a badge: back on the list is where it could.
    await bob.page.getByRole('button', { name: 'Back to chats' }).click();
    await sees(row.getByText('Hello Bob'));
    await stopsSeeing(row.getByLabel(/unread/));
    await row.click();
    await sees(composer(bob.page));
  }, 60_000);

  test('typing shows on the other side and stops', async () => {
    await composer(bob.page).pressSequentially('Hi Al', { delay: 20 });
    const typing = alice.page.getByText(`${bob.name} is typing…`);
    await sees(typing);
    await composer(bob.page).fill('');
    // Gone at once, by the stop Bob's app sends: well within the indicator's own expiry
    // (6 s in the app; the server's is set far longer, see harness.ts).
    await stopsSeeing(typing, 2000);
  }, 30_000);

  test("Bob's unread badge counts messages while he is elsewhere, and clears when he reads them", async () => {
    await bob.page.getByRole('button', { name: 'Back to chats' }).click();
    await send(alice.page, 'Are you there?');
    await send(alice.page, 'Second one');
    const row = chatRow(bob.page, alice.name);
    await sees(row.getByLabel('2 unread'));
    await row.click();
    await sees(message(bob.page, /Second one/));
    await sees(message(alice.page, /Second one/).getByLabel('Read'));
    // Checked on the list, where the badge shows for a chat that is not open.
    await bob.page.getByRole('button', { name: 'Back to chats' }).click();
    await sees(row.getByText('Second one'));
    await stopsSeeing(row.getByLabel(/unread/));
    await row.click();
    await sees(composer(bob.page));
  }, 30_000);

  test('an image shows a preview while uploading, then in the chat on both sides', async () => {
    const png = await sharp({ create: { width: 320, height: 200, background: '#3b82f6', channels: 3 } }).png().toBuffer();
    await alice.page.getByLabel('Attach files').setInputFiles({ name: 'sky.png', mimeType: 'image/png', buffer: png });
    await sees(alice.page.getByRole('img', { name: 'Preview of sky.png' }));
    await sees(alice.page.getByText('Ready'));
    await send(alice.page, 'A picture');

    // A bigger file over a slowed-down upload link: its progress shows while it goes.
    const noise = Buffer.alloc(400 * 400 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251;
    const big = await sharp(noise, { raw: { width: 400, height: 400, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    const cdp = await alice.context.newCDPSession(alice.page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 200 * 1024 });
    await alice.page.getByLabel('Attach files').setInputFiles({ name: 'noise.png', mimeType: 'image/png', buffer: big });
    await sees(alice.page.getByRole('progressbar', { name: 'Uploading noise.png' }));
    // It moves: part of the file is reported sent before all of it is.
    await alice.page.waitForFunction(
      `(() => { const p = document.querySelector('progress'); return p !== null && p.value > 0 && p.value < p.max; })()`,
      undefined,
      { timeout: 10_000 },
    );
    await sees(alice.page.getByText('Ready'));
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
    await alice.page.getByRole('button', { name: 'Remove noise.png' }).click();
    await stopsSeeing(alice.page.getByText('noise.png'));

    for (const who of [alice, bob]) {
      const img = message(who.page, /A picture/).getByRole('img', { name: 'sky.png' });
      await sees(img);
      // The bytes came: the browser decoded the image (its thumbnail), not a broken icon.
      await img.evaluate((el: { decode(): Promise<void> }) => el.decode());
      expect(await img.evaluate((el: { naturalWidth: number }) => el.naturalWidth)).toBeGreaterThan(0);
    }
  }, 30_000);

  test('a reaction and an edit appear on the other side', async () => {
    const pic = message(bob.page, /A picture/);
    await pic.hover();
    await pic.getByRole('button', { name: 'More actions' }).click();
    await pic.getByRole('button', { name: 'React 👍' }).click();
    await sees(message(alice.page, /A picture/).getByRole('button', { name: '👍 1' }));

    const hello = message(alice.page, /Hello Bob/);
    await hello.hover();
    await hello.getByRole('button', { name: 'More actions' }).click();
    await hello.getByRole('button', { name: 'Edit' }).click();
    await sees(alice.page.getByText('Editing message'));
    await alice.page.waitForFunction(`document.querySelector('textarea').value === 'Hello Bob'`, undefined, { timeout: 5000 });
    await composer(alice.page).fill('Hello Bob, edited');
    await composer(alice.page).press('Enter');
    const edited = message(bob.page, /Hello Bob, edited/);
    await sees(edited);
    await sees(edited.getByText('edited', { exact: true }));
  }, 30_000);

  test('Bob goes offline, Alice sends three messages, Bob comes back and gets each once, in order', async () => {
    await bob.context.setOffline(true);
    await sees(bob.page.getByText('You are offline'));
    for (const text of ['First while away', 'Second while away', 'Third while away']) await send(alice.page, text);
    await sees(message(alice.page, /Third while away/).getByLabel('Sent'));
    await bob.context.setOffline(false);
    await sees(message(bob.page, /Third while away/));
    await stopsSeeing(bob.page.getByText('You are offline'));
    const texts = await bob.page.getByRole('list', { name: 'Messages' }).locator(':scope > li').allInnerTexts();
    const away = texts.filter((t) => t.includes('while away')).map((t) => /(First|Second|Third) while away/.exec(t)![0]);
    expect(away).toEqual(['First while away', 'Second while away', 'Third while away']);
  }, 45_000);

  test("Alice's messages wait while she is offline and go out, in order, when she is back", async () => {
    await alice.context.setOffline(true);
    await sees(alice.page.getByText('You are offline'));
    await send(alice.page, 'Queued one');
    await send(alice.page, 'Queued two');
    await sees(message(alice.page, /Queued two/).getByLabel('Pending'));
    await alice.context.setOffline(false);
    await sees(message(bob.page, /Queued two/));
    await stopsSeeing(alice.page.getByLabel('Pending'));
    // On Alice's side each shows once: the pending entry became the echoed message.
    const mine = await alice.page.getByRole('list', { name: 'Messages' }).locator(':scope > li').allInnerTexts();
    expect(mine.filter((t) => t.includes('Queued')).map((t) => /Queued (one|two)/.exec(t)![0])).toEqual(['Queued one', 'Queued two']);
    const texts = await bob.page.getByRole('list', { name: 'Messages' }).locator(':scope > li').allInnerTexts();
    expect(texts.filter((t) => t.includes('Queued')).map((t) => /Queued (one|two)/.exec(t)![0])).toEqual(['Queued one', 'Queued two']);
  }, 45_000);

  test('a reload keeps the session and the history', async () => {
    const url = bob.page.url();
    await bob.page.reload();
    expect(bob.page.url()).toBe(url);
    await sees(bob.page.getByRole('heading', { name: alice.name }));
    await sees(message(bob.page, /Hello Bob, edited/));
    await sees(message(bob.page, /Third while away/));
    expect(await bob.page.getByRole('button', { name: 'Create account' }).count()).toBe(0);
  }, 30_000);

  test('a reload while natter answers 503 waits and retries, keeping the session', async () => {
    const p = bob.page;
    const url = p.url();
    await p.route('**/api/v1/**', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"restarting","code":"unavailable"}' }));
    try {
      await p.reload();
      await sees(p.getByText(/Retrying…/));
      expect(await p.getByRole('button', { name: 'Create account' }).count()).toBe(0);
      expect(await p.getByLabel('Password').count()).toBe(0);
    } finally {
      await p.unroute('**/api/v1/**');
    }
    // natter is back: the next retry signs in with the stored session, on the same chat.
    await sees(p.getByRole('heading', { name: alice.name }));
    await sees(message(p, /Third while away/));
    expect(p.url()).toBe(url);
  }, 30_000);

  test('a reply shows the message it answers, on both sides', async () => {
    const queued = message(bob.page, /Queued two/);
    await queued.hover();
    await queued.getByRole('button', { name: 'Reply' }).click();
    await sees(bob.page.getByText(/Replying to/));
    await send(bob.page, 'Got them all, in order. Thanks!');
    for (const who of [alice, bob]) {
      const reply = message(who.page, /Got them all/);
      await sees(reply.getByRole('blockquote', { name: `Reply to ${alice.name}` }).getByText('Queued two'));
    }
    await sees(message(alice.page, /Got them all/));
  }, 30_000);

  test('keyboard alone: Tab to a chat, Enter opens it, type and Enter sends', async () => {
    const p = bob.page;
    await p.getByRole('button', { name: 'Back to chats' }).click();
    await p.getByRole('searchbox', { name: 'Search chats' }).focus();
    await p.keyboard.press('Tab');
    await p.keyboard.press('Enter');
    await sees(p.getByRole('heading', { name: alice.name }));
    await composer(p).focus();
    await p.keyboard.type('Typed without a mouse');
    await p.keyboard.press('Enter');
    await sees(message(alice.page, /Typed without a mouse/));
  }, 30_000);

  test('at phone width the list and the chat take the screen in turn', async () => {
    const p = bob.page;
    await p.setViewportSize({ width: 390, height: 844 });
    const list = p.getByRole('navigation', { name: 'Conversations' });
    await sees(composer(p));
    expect(await list.isVisible()).toBe(false);
    await p.getByRole('button', { name: 'Back to chats' }).click();
    await sees(list);
    expect(await composer(p).count()).toBe(0);
    await chatRow(p, alice.name).click();
    await sees(composer(p));
    await p.setViewportSize({ width: 1280, height: 800 });
  }, 30_000);

  test('screenshots of the chat view: desktop and phone, light and dark', async () => {
    // The committed ones in docs/screenshots change only when asked (UPDATE_SCREENSHOTS=1);
    // otherwise they go to a scratch folder, so a run leaves the working tree clean.
    const dir = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs', 'screenshots') : path.join(tmpdir(), 'natter-screenshots');
    mkdirSync(dir, { recursive: true });
    const page = alice.page;
    // Nothing hovered or focused: the view as it rests.
    await page.mouse.move(1, 1);
    await page.evaluate('document.activeElement?.blur()');
    for (const [width, height, label] of [[1280, 800, 'desktop'], [390, 844, 'phone']] as const) {
      await page.setViewportSize({ width, height });
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await sees(message(page, /Got them all/));
        await page.screenshot({ path: path.join(dir, `chat-${label}-${scheme}.png`) });
      }
    }
  }, 30_000);

  test('scrolling up loads the older pages of a long history', async () => {
    // A backlog sent over REST with Alice's own session, then Bob opens the chat afresh.
    const { access_token } = JSON.parse((await alice.page.evaluate<string>("localStorage.getItem('natter.tokens')"))) as { access_token: string };
    const conversationId = /\/c\/(\d+)$/.exec(alice.page.url())![1];
    for (let i = 1; i <= 70; i++) {
      const res = await fetch(`${server.url}/api/v1/conversations/${conversationId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ content: `Backlog ${i}` }),
      });
      expect(res.status).toBe(201);
    }
    await bob.page.reload();
    await sees(message(bob.page, /^[^:]+: Backlog 70$/));
    const items = bob.page.getByRole('list', { name: 'Messages' }).locator(':scope > li');
    const first = message(bob.page, /^[^:]+: Backlog 1$/);
    expect(await first.count()).toBe(0);
    // A reader who holds the list at its top: each time a page comes in, straight back up,
    // within the frame that put it in place (before the browser looks again at what shows).
    await bob.page.evaluate(`{
      const el = document.querySelector('.messages');
      new MutationObserver(() => (el.scrollTop = 0)).observe(el.querySelector('.message-list'), { childList: true });
      el.scrollTop = 0;
    }`);
    // Page after page (before_seq), to the first message.
    await sees(first, 30_000);
    await sees(bob.page.getByText('This is the start of the conversation.'));
    const texts = (await items.allInnerTexts()).filter((t) => t.includes('Backlog')).map((t) => Number(/Backlog (\d+)/.exec(t)![1]));
    expect(texts).toEqual(Array.from({ length: 70 }, (_, i) => i + 1));
  }, 120_000);

  test('a message sent while Bob has the app closed shows delivered once he opens it, before he reads it', async () => {
    await bob.page.goto('about:blank');
    await send(alice.page, 'Sent while your app was closed');
    const mine = message(alice.page, /Sent while your app was closed/);
    await sees(mine.getByLabel('Sent'));
    await bob.page.goto('/');
    await sees(chatRow(bob.page, alice.name).getByLabel('1 unread'));
    await sees(mine.getByLabel('Delivered'));
  }, 30_000);

  test("a chat whose history failed to load shows its latest messages after the reconnect", async () => {
    const p = bob.page;
    const history = (url: URL) => /\/conversations\/\d+\/messages/.test(url.pathname);
    await p.route(history, (route) => route.abort('internetdisconnected'));
    try {
      await chatRow(p, alice.name).click();
      await sees(composer(p));
      await bob.context.setOffline(true);
      await sees(p.getByText('You are offline'));
    } finally {
      await p.unroute(history);
    }
    await bob.context.setOffline(false);
    // The latest page, as a first open shows it, not the oldest messages from seq 1.
    await sees(message(p, /Sent while your app was closed/));
    expect(await message(p, /Hello Bob, edited/).count()).toBe(0);
    expect(await p.getByText('This is the start of the conversation.').count()).toBe(0);
  }, 30_000);
});
