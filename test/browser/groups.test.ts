import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  browserSkipReason,
  chatRow,
  launchChromium,
  message,
  NatterServer,
  person,
  sees,
  send,
  stopsSeeing,
  type Person,
} from './harness.js';

/**
 * The rest of the app as people use it: signing in to an account made elsewhere, a group
 * with its info and admin actions, message search, delete for everyone, blocking and
 * unblocking, and the privacy settings. Olga and Max in browsers, Nina by REST only.
 */

const skip = browserSkipReason();

describe.skipIf(skip !== undefined)('groups, search, blocking and privacy in a real browser', () => {
  let server: NatterServer;
  let browser: Browser;
  let olga: Person;
  let max: Person;
  const tag = Math.random().toString(36).slice(2, 7);
  const nina = `nina${tag}`;

  const register = async (username: string) => {
    const res = await fetch(`${server.url}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, email: `${username}@example.com`, password: 'password123' }),
    });
    expect(res.status).toBe(201);
  };

  beforeAll(async () => {
    [server, browser] = await Promise.all([NatterServer.start(), launchChromium()]);
    olga = await person(browser, server.url, `olga${tag}`);
    max = await person(browser, server.url, `max${tag}`);
    await Promise.all([register(olga.name), register(max.name), register(nina)]);
  }, 120_000);

  // A failed step leaves both pages as they were, in the temp folder, to look at.
  afterEach(async ({ task }) => {
    if (task.result?.state !== 'fail') return;
    for (const who of [olga, max]) await who.page.screenshot({ path: path.join(tmpdir(), `natter-browser-fail-${who.name}.png`) });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });


  test('accounts made elsewhere sign in; a wrong password is refused with a message', async () => {
    await max.page.goto('/');
    await max.page.getByLabel('Email or username').fill(max.name);
    await max.page.getByLabel('Password').fill('not-the-password');
    await max.page.getByRole('button', { name: 'Sign in' }).click();
    await sees(max.page.getByRole('alert'));
    for (const who of [olga, max]) {
      await who.page.goto('/');
      await who.page.getByLabel('Email or username').fill(who.email);
      await who.page.getByLabel('Password').fill('password123');
      await who.page.getByRole('button', { name: 'Sign in' }).click();
      await sees(who.page.getByRole('navigation', { name: 'Conversations' }));
    }
  }, 60_000);

  test('Olga makes a group with Max and Nina; Max sees it with its first message', async () => {
    const p = olga.page;
    await p.getByRole('button', { name: 'New chat' }).click();
    await p.getByRole('button', { name: 'Group', exact: true }).click();
    await p.getByLabel('Group name').fill('Trip planning');
    for (const name of [max.name, nina]) {
      await p.getByLabel('Search people').fill(name);
      await p.getByRole('checkbox', { name: new RegExp(name) }).check();
    }
    await p.getByRole('button', { name: 'Create group with 2' }).click();
    await sees(p.getByRole('heading', { name: 'Trip planning' }));
    await sees(p.getByText('3 members'));
    // natter tells members of a new group with its first message.
    await send(p, 'Where shall we go?');
    await sees(chatRow(max.page, 'Trip planning').getByText(/Where shall we go/));
  }, 30_000);

  test("group info: Olga makes Max an admin and removes Nina; Max's view follows", async () => {
    const p = olga.page;
    await p.getByRole('button', { name: 'Group info' }).click();
    const members = p.getByRole('list', { name: 'Members' });
    await sees(members.getByText(nina));
    await p.getByRole('button', { name: `Make ${max.name} admin` }).click();
    await sees(p.getByRole('button', { name: `Make ${max.name} a member` }));
    await p.getByRole('button', { name: `Remove ${nina}` }).click();
    await stopsSeeing(members.getByText(nina));
    await sees(p.getByRole('heading', { name: '2 members' }));
    await p.getByRole('button', { name: 'Close info' }).click();

    await chatRow(max.page, 'Trip planning').click();
    await sees(message(max.page, /removed/));
    await max.page.getByRole('button', { name: 'Group info' }).click();
    await sees(max.page.getByRole('list', { name: 'Members' }).getByText('admin', { exact: true }));
    expect(await max.page.getByRole('list', { name: 'Members' }).getByText(nina).count()).toBe(0);
    await max.page.getByRole('button', { name: 'Close info' }).click();
  }, 30_000);

  test('message search finds a message and marks the words; a delete for everyone shows on the other side', async () => {
    await send(olga.page, 'Pineapple pizza on Friday?');
    await send(olga.page, 'Or pasta');
    await sees(message(max.page, /Or pasta/));
    await max.page.getByRole('button', { name: 'Search messages' }).click();
    await max.page.getByLabel('Search this chat').fill('pineapple');
    const results = max.page.getByRole('list', { name: 'Search results' });
    await sees(results.getByText(/pizza on Friday/));
    expect(await results.locator('mark').first().innerText()).toMatch(/pineapple/i);
    expect(await results.getByText('Or pasta').count()).toBe(0);
    await max.page.getByRole('button', { name: 'Close search' }).click();

    const pasta = message(olga.page, /Or pasta/);
    await pasta.hover();
    await pasta.getByRole('button', { name: 'More actions' }).click();
    await pasta.getByRole('button', { name: 'Delete for everyone' }).click();
    await sees(message(max.page, /message deleted/));
    expect(await message(max.page, /Or pasta/).count()).toBe(0);
  }, 30_000);

  test('Max blocks Olga: her message is refused and she is told; after the unblock it goes through', async () => {
    // Olga opens the direct chat; Max blocks her from its info.
    await olga.page.getByRole('button', { name: 'New chat' }).click();
    await olga.page.getByLabel('Search people').fill(max.name);
    await olga.page.getByRole('button', { name: new RegExp(max.name) }).click();
    await sees(olga.page.getByRole('heading', { name: max.name }));
    await send(olga.page, 'Hi Max');
    await chatRow(max.page, olga.name).click();
    await sees(message(max.page, /Hi Max/));
    await max.page.getByRole('button', { name: 'Chat info' }).click();
    await max.page.getByRole('button', { name: `Block ${olga.name}` }).click();
    await sees(max.page.getByRole('button', { name: `Unblock ${olga.name}` }));

    await send(olga.page, 'Are you ignoring me?');
    await sees(olga.page.getByText(/Not sent/));
    await olga.page.getByRole('button', { name: 'Discard' }).click();
    await stopsSeeing(olga.page.getByText(/Not sent/));

    // The settings list whom Max blocks, and unblock from there.
    await max.page.getByRole('button', { name: 'Settings' }).click();
    const dialog = max.page.getByRole('dialog', { name: 'Settings' });
    await dialog.getByRole('button', { name: `Unblock ${olga.name}` }).click();
    await sees(dialog.getByText('You block nobody.'));
    await dialog.getByRole('button', { name: 'Close' }).click();

    await send(olga.page, 'Friends again');
    await sees(message(max.page, /Friends again/));
  }, 45_000);

  test('privacy settings are saved and shown again', async () => {
    await max.page.getByRole('button', { name: 'Settings' }).click();
    let dialog = max.page.getByRole('dialog', { name: 'Settings' });
    await dialog.getByLabel('Who sees when I was last online').selectOption('nobody');
    await sees(dialog.getByText('Saved'));
    await dialog.getByLabel('Send read receipts').uncheck();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await max.page.reload();
    await max.page.getByRole('button', { name: 'Settings' }).click();
    dialog = max.page.getByRole('dialog', { name: 'Settings' });
    await sees(dialog.getByLabel('Who sees when I was last online'));
    await max.page.waitForFunction(
      `document.querySelector('dialog select')?.value === 'nobody' && document.querySelector('dialog input[type=checkbox]')?.checked === false`,
      undefined,
      { timeout: 10_000 },
    );
    // Olga no longer sees Max online (his presence is hidden from everyone now).
    await olga.page.reload();
    await sees(chatRow(olga.page, max.name).getByRole('img', { name: 'offline' }));
  }, 45_000);
});
