import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  browserSkipReason,
  chatRow,
  FAKE_MEDIA,
  launchChromium,
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
 * Alice calls Bob in two browser contexts of a real Chromium (its fake camera and
 * microphone), through the web app natter serves: WebRTC between the two contexts over
 * host candidates, signalled by natter. Checked by what the pages show: the incoming
 * screen, "Connected", the remote video playing, and the call's entry in the history.
 */

const skip = browserSkipReason();
if (skip) console.warn(`browser tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)('calls in a real browser', () => {
  let server: NatterServer;
  let browser: Browser;
  let alice: Person;
  let bob: Person;
  const tag = Math.random().toString(36).slice(2, 7);

  beforeAll(async () => {
    const [started, launched] = await Promise.allSettled([NatterServer.start(), launchChromium(FAKE_MEDIA)]);
    if (started.status === 'fulfilled') server = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw launched.reason;
    const permissions = ['camera', 'microphone'];
    alice = await person(browser, server.url, `alice${tag}`, { permissions });
    bob = await person(browser, server.url, `bob${tag}`, { permissions });
  }, 120_000);

  afterEach(async ({ task }) => {
    if (task.result?.state !== 'fail') return;
    for (const who of [alice, bob]) await who.page.screenshot({ path: path.join(tmpdir(), `natter-browser-call-fail-${who.name}.png`) });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const incoming = (p: Page) => p.getByRole('dialog', { name: /^Incoming/ });
  const callView = (p: Page) => p.getByRole('dialog', { name: /call with/ });
  const status = (p: Page) => callView(p).getByRole('status');
  const callEntry = (p: Page, name: RegExp) => p.getByRole('list', { name: 'Messages' }).getByRole('listitem', { name });

  test('both sign up; Alice opens a direct chat with Bob, and Bob has it open too', async () => {
    for (const who of [alice, bob]) await signUp(who);
    await openDirectChat(alice, bob);
    await send(alice.page, 'Call you?');
    await chatRow(bob.page, alice.name).click();
    await sees(bob.page.getByRole('heading', { name: alice.name }));
  }, 60_000);

  test('Alice starts a video call; Bob sees it ring and accepts; both connect with video; Bob hangs up; the history shows it with its duration', async () => {
    await alice.page.getByRole('button', { name: 'Video call' }).click();
    await sees(callView(alice.page));
    const ring = incoming(bob.page);
    await sees(ring);
    await expect(ring.getByRole('heading', { name: alice.name }).count()).resolves.toBe(1);
    await sees(ring.getByText('Incoming video call…'));
    // Bob's tab shows the call: Alice's screen says so.
    await sees(status(alice.page).getByText('Ringing…'));
    // The record shows at once, ringing.
    await sees(callEntry(bob.page, /Video call · Ringing…/));

    await ring.getByRole('button', { name: 'Accept' }).click();
    await stopsSeeing(ring);
    for (const who of [alice, bob]) {
      await sees(status(who.page).getByText('Connected'), 30_000);
      // The other side's camera plays: the remote video has frames.
      await who.page.waitForFunction(`(() => { const v = document.querySelector('video.remote-video'); return !!v && v.videoWidth > 0 && v.readyState >= 2; })()`, undefined, {
        timeout: 30_000,
      });
    }
    // The timer runs once connected.
    await sees(callView(alice.page).locator('time.call-timer').getByText(/· 0:0[1-9]/), 15_000);
    // What the call looks like, to look at (a scratch folder, like the chat's screenshots).
    for (const who of [alice, bob]) await who.page.screenshot({ path: path.join(tmpdir(), `natter-call-${who === alice ? 'caller' : 'callee'}.png`) });
    // Mute and camera off toggle on the caller's side.
    const localTrack = (kind: 'audio' | 'video') =>
      alice.page.evaluate<boolean[]>(
        `(() => { const s = document.querySelector('video.local-video')?.srcObject; return s ? s.get${kind === 'audio' ? 'Audio' : 'Video'}Tracks().map((t) => t.enabled) : []; })()`,
      );
    await expect(localTrack('audio')).resolves.toEqual([true]);
    await callView(alice.page).getByRole('button', { name: 'Mute' }).click();
    await sees(callView(alice.page).getByRole('button', { name: 'Mute', pressed: true }));
    await expect(localTrack('audio')).resolves.toEqual([false]);
    await callView(alice.page).getByRole('button', { name: 'Camera off' }).click();
    await sees(callView(alice.page).getByRole('button', { name: 'Camera off', pressed: true }));
    await expect(localTrack('video')).resolves.toEqual([false]);

    await callView(bob.page).getByRole('button', { name: 'Hang up' }).click();
    await stopsSeeing(callView(bob.page));
    await stopsSeeing(callView(alice.page));
    for (const who of [alice, bob]) await sees(callEntry(who.page, /^Video call · \d+:\d\d$/), 15_000);
  }, 120_000);

  test('Bob declines a voice call: the ringing stops, and both see it declined', async () => {
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    const ring = incoming(bob.page);
    await sees(ring.getByText('Incoming voice call…'));
    await ring.getByRole('button', { name: 'Decline' }).click();
    await stopsSeeing(ring);
    await stopsSeeing(callView(alice.page));
    for (const who of [alice, bob]) await sees(callEntry(who.page, /^Voice call · Declined$/), 15_000);
  }, 60_000);

  test('Bob has two tabs: both ring; when one accepts, the other closes its incoming screen', async () => {
    const second = await bob.context.newPage();
    try {
      await second.goto('/');
      await sees(second.getByRole('navigation', { name: 'Conversations' }));
      await alice.page.getByRole('button', { name: 'Voice call' }).click();
      await sees(incoming(bob.page));
      await sees(incoming(second));
      await incoming(bob.page).getByRole('button', { name: 'Accept' }).click();
      await stopsSeeing(incoming(second));
      for (const p of [alice.page, bob.page]) await sees(status(p).getByText('Connected'), 30_000);
      await expect(callView(second).count()).resolves.toBe(0);
      // Escape hangs up.
      await bob.page.keyboard.press('Escape');
      for (const p of [alice.page, bob.page]) await stopsSeeing(callView(p));
      for (const p of [alice.page, bob.page]) await sees(callEntry(p, /^Voice call · \d+:\d\d$/), 15_000);
    } finally {
      await second.close();
    }
  }, 90_000);

  test('Alice gives up while it rings: the incoming screen goes away and Bob has a missed call', async () => {
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    const ring = incoming(bob.page);
    await sees(ring);
    await callView(alice.page).getByRole('button', { name: 'Hang up' }).click();
    await stopsSeeing(ring);
    await sees(callEntry(bob.page, /^Missed voice call$/), 15_000);
    await sees(callEntry(alice.page, /^Voice call · No answer$/), 15_000);
  }, 60_000);

  /**
   * Clicks the chat's `label` button in every page at one instant (the pages share the
   * machine's clock). Scripted, not by Playwright's click: a click that waits for the
   * button to be actionable may come after the other's invite put its screen over it.
   */
  async function clickAtOnce(pages: Page[], label: string): Promise<void> {
    const at = Date.now() + 500;
    const script = `new Promise((resolve, reject) => setTimeout(() => {
      const button = document.querySelector(${JSON.stringify(`button[aria-label="${label}"]`)});
      if (!button || button.disabled) reject(new Error('no enabled ${label} button'));
      else resolve(button.click());
    }, ${at} - Date.now()))`;
    await Promise.all(pages.map((p) => p.evaluate(script)));
  }

  test('both call each other at the same moment: natter keeps one call, and both are in it', async () => {
    await clickAtOnce([alice.page, bob.page], 'Video call');
    for (const who of [alice, bob]) await sees(status(who.page).getByText('Connected'), 30_000);
    await expect(incoming(alice.page).count()).resolves.toBe(0);
    await expect(incoming(bob.page).count()).resolves.toBe(0);
    await callView(alice.page).getByRole('button', { name: 'Hang up' }).click();
    for (const who of [alice, bob]) await stopsSeeing(callView(who.page));
    // The call that lost is recorded as cancelled; the one both were in, with its duration.
    for (const who of [alice, bob]) {
      await sees(callEntry(who.page, /^Video call · Cancelled$/), 15_000);
      await expect(callEntry(who.page, /^Video call · \d+:\d\d$/).count()).resolves.toBe(2);
    }
  }, 60_000);

  test('Alice gives up while Bob\'s tab is offline: back online, its incoming screen goes away at once, not at the ring timeout (45 s)', async () => {
    const missed = callEntry(bob.page, /^Missed voice call$/);
    const before = await missed.count();
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    const ring = incoming(bob.page);
    await sees(ring);
    await bob.context.setOffline(true);
    await sees(bob.page.getByText('You are offline'));
    await callView(alice.page).getByRole('button', { name: 'Hang up' }).click();
    await stopsSeeing(callView(alice.page));
    await bob.context.setOffline(false);
    await stopsSeeing(ring, 10_000);
    // The record's update came while the tab was offline: sync brings it.
    await expect.poll(() => missed.count(), { timeout: 15_000 }).toBe(before + 1);
  }, 60_000);

  test('Bob declines while Alice\'s tab is offline: back online, her call view goes away at once, not at her give-up deadline (55 s)', async () => {
    const declined = callEntry(alice.page, /^Voice call · Declined$/);
    const before = await declined.count();
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    const ring = incoming(bob.page);
    await sees(ring);
    // Her tab asks only about a call natter has shown it knows: one that rang.
    await sees(status(alice.page).getByText('Ringing…'));
    await alice.context.setOffline(true);
    await sees(alice.page.getByText('You are offline'));
    await ring.getByRole('button', { name: 'Decline' }).click();
    await stopsSeeing(ring);
    await alice.context.setOffline(false);
    await stopsSeeing(callView(alice.page), 10_000);
    await expect.poll(() => declined.count(), { timeout: 15_000 }).toBe(before + 1);
  }, 60_000);

  test('Alice is offline for a moment just as Bob answers: back online, her call connects', async () => {
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    const ring = incoming(bob.page);
    await sees(ring);
    await alice.context.setOffline(true);
    await sees(alice.page.getByText('You are offline'));
    await ring.getByRole('button', { name: 'Accept' }).click();
    await sees(status(bob.page).getByText('Connecting…'));
    await alice.context.setOffline(false);
    for (const who of [alice, bob]) await sees(status(who.page).getByText('Connected'), 30_000);
    await callView(alice.page).getByRole('button', { name: 'Hang up' }).click();
    for (const who of [alice, bob]) await stopsSeeing(callView(who.page));
  }, 90_000);

  test('natter says the answer twice, back to back (as to a caller back online just as it answers), then fails on a frame: the call connects, and goes on', async () => {
    // Every call_answer natter sends Alice's tab arrives twice in a row. Routing applies to
    // pages loaded after it: her tab reloads (and again after, unrouted).
    let route: WebSocketRoute | null = null;
    let callId = '';
    await alice.page.routeWebSocket(/\/api\/v1\/ws/, (ws) => {
      route = ws;
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        callId = /"type":"call_invite".*"call_id":"([^"]+)"/.exec(String(m))?.[1] ?? callId;
        server.send(m);
      });
      server.onMessage((m) => {
        ws.send(m);
        if (typeof m === 'string' && m.includes('"type":"call_answer"')) ws.send(m);
      });
    });
    const talked = callEntry(alice.page, /^Voice call · \d+:\d\d$/);
    const before = await talked.count();
    try {
      await alice.page.reload();
      await alice.page.getByRole('button', { name: 'Voice call' }).click();
      await incoming(bob.page).getByRole('button', { name: 'Accept' }).click();
      for (const who of [alice, bob]) await sees(status(who.page).getByText('Connected'), 30_000);
      // natter failing on a frame of the call (internal) says nothing of the call: it goes on.
      route!.send(JSON.stringify({ type: 'error', error: 'Internal server error', code: 'internal', call_id: callId }));
      await alice.page.waitForTimeout(1000);
      await expect(callView(alice.page).getByRole('status').getByText('Connected').isVisible()).resolves.toBe(true);
      await callView(alice.page).getByRole('button', { name: 'Hang up' }).click();
      for (const who of [alice, bob]) await stopsSeeing(callView(who.page));
      await expect.poll(() => talked.count(), { timeout: 15_000 }).toBe(before + 1);
    } finally {
      await alice.page.unrouteAll();
      await alice.page.reload();
      await sees(alice.page.getByRole('button', { name: 'Voice call' }));
    }
  }, 60_000);

  test('glare while Bob\'s tab still gets its microphone: natter keeps Alice\'s call, and both are in it', async () => {
    // Bob's microphone is held until released (the first time), and his call ids sort
    // after Alice's, so his call is the one glare ends.
    await bob.page.evaluate(`(() => {
      const md = navigator.mediaDevices;
      window.__real = { gum: md.getUserMedia.bind(md), uuid: crypto.randomUUID.bind(crypto) };
      md.getUserMedia = (c) => new Promise((res, rej) => {
        md.getUserMedia = window.__real.gum;
        window.__release = () => window.__real.gum(c).then(res, rej);
      });
      crypto.randomUUID = () => 'ffffffff-ffff-4fff-bfff-' + window.__real.uuid().slice(-12);
    })()`);
    try {
      await bob.page.getByRole('button', { name: 'Voice call' }).click();
      await alice.page.getByRole('button', { name: 'Voice call' }).click();
      await sees(callView(alice.page));
      // Bob's tab waits for its microphone; Alice's invite reaches it meanwhile (it shows nothing then).
      await expect.poll(() => bob.page.evaluate('typeof window.__release'), { timeout: 10_000 }).toBe('function');
      await alice.page.waitForTimeout(1000);
      await bob.page.evaluate('window.__release()');
      for (const who of [alice, bob]) await sees(status(who.page).getByText('Connected'), 30_000);
      await callView(bob.page).getByRole('button', { name: 'Hang up' }).click();
      for (const who of [alice, bob]) await stopsSeeing(callView(who.page));
    } finally {
      await bob.page.evaluate(`(() => {
        navigator.mediaDevices.getUserMedia = window.__real.gum;
        crypto.randomUUID = window.__real.uuid;
      })()`);
    }
  }, 90_000);

  test('a call that rings while Settings is open: Settings closes, and the call can be accepted', async () => {
    await bob.page.getByRole('button', { name: 'Settings' }).click();
    await sees(bob.page.getByRole('dialog', { name: 'Settings' }));
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    const ring = incoming(bob.page);
    await sees(ring);
    await stopsSeeing(bob.page.getByRole('dialog', { name: 'Settings' }));
    await ring.getByRole('button', { name: 'Accept' }).click({ timeout: 5000 });
    for (const who of [alice, bob]) await sees(status(who.page).getByText('Connected'), 30_000);
    await callView(alice.page).getByRole('button', { name: 'Hang up' }).click();
    for (const who of [alice, bob]) await stopsSeeing(callView(who.page));
  }, 90_000);
});
