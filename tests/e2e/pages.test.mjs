// The web pages in a real browser against a real wagwd (sandbox engine): admin creates a user,
// the user links WhatsApp with a QR code and watches it connect live, saves a webhook and sends
// a test message that another sandbox session receives.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  ADMIN, api, followEvents, launchChromium, screenshots, startReceiver, startWagwd,
} from './wagwd.mjs';

const ALICE = { username: 'alice', password: 'alice-secret-1' };
const BOB = { username: 'bob', password: 'bob-secret-1' };
const ALICE_PHONE = '628111111111';
const BOB_PHONE = '628222222222';

describe('web pages', () => {
  let wagwd;
  let browser;
  let receiver;
  let bobEvents;
  const consoleErrors = [];
  // Error responses the test provokes on purpose; Chromium logs each as a console error.
  const expectedErrors = [];
  // The dashboard shows recent webhook deliveries only where wagwd has GET /dashboard/webhooks;
  // it finds out by asking, and on a wagwd without the route Chromium logs that 404.
  let deliveriesRoute = true;

  // Opens a page in its own context (its own credentials) and records what it logs as errors.
  async function open(route, options = {}) {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const entry = { page: route, text: message.text(), url: message.location().url };
      const expected = expectedErrors.findIndex((e) => e.url === entry.url && entry.text.includes(`status of ${e.status}`));
      if (expected >= 0) expectedErrors.splice(expected, 1);
      else if (!deliveriesRoute && entry.url === `${wagwd.base}/dashboard/webhooks` && entry.text.includes('status of 404')) return;
      else consoleErrors.push(entry);
    });
    page.on('pageerror', (error) => consoleErrors.push({ page: route, text: String(error) }));
    await page.goto(wagwd.base + route);
    return page;
  }

  async function signIn(page, who) {
    const form = page.locator('#login-form');
    await form.getByLabel('Username').fill(who.username);
    await form.getByLabel('Password').fill(who.password);
    // Enter in the password field submits, as on any sign-in form.
    await form.getByLabel('Password').press('Enter');
    await page.locator('#app').waitFor({ state: 'visible' });
    // The live event stream is open: nothing the test does next can be missed by the page.
    await page.locator('body[data-live="on"]').waitFor();
  }

  const shot = (page, name) => page.screenshot({ path: path.join(screenshots, name), fullPage: true });

  before(async () => {
    await mkdir(screenshots, { recursive: true });
    wagwd = await startWagwd();
    // An unknown route is a 404 whoever asks; a known one refuses admin with a 403.
    deliveriesRoute = (await api(wagwd.base, 'GET', '/dashboard/webhooks', { as: ADMIN })).status !== 404;
    receiver = await startReceiver();
    browser = await launchChromium();
  });

  after(async () => {
    if (bobEvents) bobEvents.close();
    if (browser) await browser.close();
    if (receiver) await receiver.close();
    if (wagwd) await wagwd.stop();
  });

  it('welcome page links to both pages and shows the daemon is healthy', async () => {
    const page = await open('/');
    await page.getByText('wagwd is running').waitFor();
    assert.equal(await page.getByRole('link', { name: /Dashboard/ }).first().getAttribute('href'), '/dashboard');
    assert.equal(await page.getByRole('link', { name: /Admin panel/ }).first().getAttribute('href'), '/admin');
    await shot(page, 'welcome.png');
    await page.context().close();
  });

  it('admin creates a user, sees field errors, and starts a session of their own', async () => {
    const page = await open('/admin');
    await signIn(page, ADMIN);

    // A too-short password: the API's message appears beside the password field.
    expectedErrors.push({ url: `${wagwd.base}/admin/users`, status: 400 });
    await page.locator('#create-username').fill(ALICE.username);
    await page.locator('#create-password').fill('ab');
    await page.getByRole('button', { name: 'Create user' }).click();
    const passwordError = page.locator('#create-password-error');
    await passwordError.waitFor({ state: 'visible' });
    assert.match(await passwordError.textContent(), /^password: /);
    assert.equal(await page.locator('#create-password').getAttribute('aria-invalid'), 'true');
    await page.locator('#create-form').screenshot({ path: path.join(screenshots, 'admin-field-error.png') });

    await page.locator('#create-password').fill(ALICE.password);
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.locator('tr[data-user="alice"]').waitFor();
    assert.equal(await passwordError.isVisible(), false);
    await page.locator('#create-form .form-ok').waitFor();

    // Admin's own named session shows its QR code in the list.
    await page.locator('#own-session').fill('sales_team');
    await page.getByRole('button', { name: 'Start session' }).click();
    await page.locator('li[data-session="sales_team"] img').waitFor();
    await shot(page, 'admin.png');
    await page.context().close();
  });

  it('a second user is linked through the API, as the message recipient', async () => {
    let answer = await api(wagwd.base, 'POST', '/admin/users', { as: ADMIN, body: BOB });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    bobEvents = await followEvents(wagwd.base, ADMIN, '?session=bob');
    answer = await api(wagwd.base, 'POST', '/session/start', { as: BOB, body: { session: 'bob' } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.data.status, 'qr');
    answer = await api(wagwd.base, 'POST', '/sandbox/scan', { as: ADMIN, body: { session: 'bob', phone: BOB_PHONE } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    await bobEvents.waitFor((e) => e.type === 'status' && e.status === 'connected', 'bob to connect');
  });

  let dashboard;

  it('the user generates a QR code and the page turns to connected live when it is scanned', async () => {
    dashboard = await open('/dashboard');
    await signIn(dashboard, ALICE);
    await dashboard.locator('#session-status [data-status="stopped"]').waitFor();
    // Set on the window: a reload would lose it.
    await dashboard.evaluate(() => { window.stillTheSamePage = true; });

    await dashboard.getByRole('button', { name: 'Generate QR Code' }).click();
    const qr = dashboard.locator('#qr-image');
    await qr.waitFor({ state: 'visible' });
    await dashboard.locator('#session-status [data-status="qr"]').waitFor();
    // The picture of the session's current QR code has really loaded, not just the element.
    const current = await api(wagwd.base, 'GET', '/session', { as: ADMIN });
    const code = current.body.data.find((s) => s.session === 'alice').qr;
    assert.ok(code, 'alice is not waiting for a scan');
    await dashboard.waitForFunction((expected) => {
      const image = document.getElementById('qr-image');
      return image.dataset.qr === expected && image.complete && image.naturalWidth > 0;
    }, code);
    assert.match(await qr.getAttribute('src'), /^blob:/);
    await shot(dashboard, 'dashboard-qr.png');

    const scan = await api(wagwd.base, 'POST', '/sandbox/scan', { as: ADMIN, body: { session: 'alice', phone: ALICE_PHONE } });
    assert.equal(scan.status, 200, JSON.stringify(scan.body));

    await dashboard.locator('#session-status [data-status="connected"]').waitFor();
    await dashboard.locator('#session-phone', { hasText: `+${ALICE_PHONE}` }).waitFor();
    await dashboard.locator('#connected-box', { hasText: 'Connected as' }).waitFor();
    assert.equal(await qr.isVisible(), false);
    assert.equal(await dashboard.evaluate(() => window.stillTheSamePage), true, 'the page reloaded');
  });

  it('the user saves a webhook URL and sends a test message that the other session receives', async () => {
    const hook = `${receiver.url}/hooks/alice`;
    await dashboard.getByLabel('Webhook URL').fill(hook);
    await dashboard.locator('#callback-form').getByRole('button', { name: 'Save' }).click();
    await dashboard.locator('#callback-form .form-ok').waitFor();
    const users = await api(wagwd.base, 'GET', '/admin/users', { as: ADMIN });
    assert.equal(users.body.data.find((u) => u.username === 'alice').callback_url, hook);
    // Bob's deliveries go to the same receiver, for a wagwd that delivers webhooks.
    const bobHook = await api(wagwd.base, 'PUT', '/dashboard/callback', { as: BOB, body: { callback_url: `${receiver.url}/hooks/bob` } });
    assert.equal(bobHook.status, 200, JSON.stringify(bobHook.body));

    const text = `Hello Bob, from the browser test ${Date.now()}`;
    await dashboard.getByLabel('To', { exact: true }).fill(BOB_PHONE);
    await dashboard.getByLabel('Message', { exact: true }).fill(text);
    await dashboard.locator('#send-form').getByRole('button', { name: 'Send' }).click();
    await dashboard.locator('#send-form .form-ok', { hasText: 'Sent' }).waitFor();

    // Alice's session sent it ...
    const outbox = await api(wagwd.base, 'GET', '/sandbox/outbox?session=alice', { as: ADMIN });
    assert.equal(outbox.status, 200);
    const sent = outbox.body.data.find((m) => m.text === text);
    assert.ok(sent, `alice's outbox lacks the message: ${JSON.stringify(outbox.body.data)}`);
    assert.match(sent.to, new RegExp(BOB_PHONE));
    // ... and Bob's session received it from Alice's number.
    const inbound = await bobEvents.waitFor(
      (e) => e.type === 'message' && !e.message.from_me && e.message.text === text,
      'bob to receive the message',
    );
    assert.match(inbound.message.sender, new RegExp(ALICE_PHONE));

    // Where this wagwd delivers webhooks, the receiver gets Bob's inbound message too.
    const webhooks = await api(wagwd.base, 'GET', '/dashboard/webhooks', { as: BOB });
    if (webhooks.status === 200) {
      await receiver.waitFor((r) => r.url === '/hooks/bob' && r.body.includes(text), 'the webhook delivery to bob');
    }

    await shot(dashboard, 'dashboard-connected.png');
  });

  it('the user sets a signing secret and OAuth credentials, and secrets are never shown back', async () => {
    await dashboard.getByRole('button', { name: 'Generate new secret' }).click();
    const secret = dashboard.locator('#secret-value');
    await secret.waitFor({ state: 'visible' });
    // 32 random bytes in Standard Webhooks form.
    assert.match(await secret.textContent(), /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(await dashboard.evaluate(() => document.activeElement.id), 'secret-copy');
    let info = await api(wagwd.base, 'GET', '/dashboard/session-info', { as: ALICE });
    assert.equal(info.body.data.user.has_webhook_secret, true);

    await dashboard.getByLabel('Client id').fill('alice-client');
    await dashboard.getByLabel('Client secret').fill('alice-oauth-secret');
    await dashboard.locator('#oauth-form').getByRole('button', { name: 'Save' }).click();
    await dashboard.locator('#oauth-form .form-ok').waitFor();
    assert.equal(await dashboard.getByLabel('Client secret').inputValue(), '');
    await dashboard.locator('#oauth-password-help', { hasText: 'A client secret is saved' }).waitFor();
    info = await api(wagwd.base, 'GET', '/dashboard/session-info', { as: ALICE });
    assert.equal(info.body.data.user.oauth_login, 'alice-client');
    assert.equal(info.body.data.user.has_oauth_password, true);
    assert.ok(!(await dashboard.content()).includes('alice-oauth-secret'));
  });

  it('the admin list shows the new session state without a reload', async () => {
    const admin = await open('/admin');
    await signIn(admin, ADMIN);
    await admin.locator('tr[data-user="alice"] [data-status="connected"]').waitFor();
    await admin.locator('tr[data-user="bob"] [data-status="connected"]').waitFor();
    await shot(admin, 'admin-users.png');
    await admin.context().close();
  });

  it('the pages fit a phone screen', async () => {
    const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
    const page = await open('/dashboard', phone);
    await signIn(page, ALICE);
    await page.locator('#session-status [data-status="connected"]').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the dashboard is ${overflow}px wider than a phone screen`);
    await shot(page, 'dashboard-phone.png');

    const admin = await open('/admin', phone);
    await signIn(admin, ADMIN);
    await admin.locator('tr[data-user="alice"]').waitFor();
    const adminOverflow = await admin.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(adminOverflow <= 0, `the admin panel is ${adminOverflow}px wider than a phone screen`);
    await shot(admin, 'admin-phone.png');
  });

  it('admin changes a password, edits session settings and deletes a user after confirming', async () => {
    const page = await open('/admin');
    await signIn(page, ADMIN);
    await page.locator('#create-username').fill('carol');
    await page.locator('#create-password').fill('carol-secret-1');
    await page.getByRole('button', { name: 'Create user' }).click();
    const row = page.locator('tr[data-user="carol"]');
    await row.waitFor();
    const listed = await api(wagwd.base, 'GET', '/admin/users', { as: ADMIN });
    const carol = listed.body.data.find((u) => u.username === 'carol');

    await row.getByRole('button', { name: 'Change password of carol' }).click();
    await page.locator('#password-new').fill('carol-secret-2');
    await page.locator('#password-form').getByRole('button', { name: 'Change password' }).click();
    await page.locator('#password-dialog').waitFor({ state: 'hidden' });
    const signedIn = await api(wagwd.base, 'GET', '/dashboard/session-info', { as: { username: 'carol', password: 'carol-secret-2' } });
    assert.equal(signedIn.status, 200, 'the new password does not work');

    // A bad session name: the API's message beside the field, the dialog stays open.
    await row.getByRole('button', { name: 'Session settings of carol' }).click();
    expectedErrors.push({ url: `${wagwd.base}/admin/users/${carol.id}/session-config`, status: 400 });
    await page.locator('#config-session-name').fill('bad name!');
    await page.locator('#config-form').getByRole('button', { name: 'Save' }).click();
    await page.locator('#config-session-name-error', { hasText: 'session_name:' }).waitFor();
    await page.locator('#config-session-name').fill('carol_support');
    await page.locator('#config-form').getByRole('button', { name: 'Save' }).click();
    await page.locator('#config-dialog').waitFor({ state: 'hidden' });
    await row.locator('td', { hasText: 'carol_support' }).waitFor();

    // Deleting asks first, with Cancel focused so a stray Enter deletes nothing.
    const dialog = page.locator('#delete-dialog');
    await row.getByRole('button', { name: 'Delete carol' }).click();
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'delete-cancel');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await row.getByRole('button', { name: 'Delete carol' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await row.waitFor({ state: 'detached' });
    const remaining = await api(wagwd.base, 'GET', '/admin/users', { as: ADMIN });
    assert.equal(remaining.body.data.some((u) => u.username === 'carol'), false);
    await page.context().close();
  });

  it('the user disconnects after confirming, and the page follows', async () => {
    await dashboard.getByRole('button', { name: 'Disconnect', exact: true }).click();
    const dialog = dashboard.getByRole('dialog', { name: 'Disconnect WhatsApp?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Disconnect' }).click();
    await dialog.waitFor({ state: 'detached' });
    await dashboard.locator('#session-status [data-status="stopped"], #session-status [data-status="logged_out"]').waitFor();
    await dashboard.getByRole('button', { name: 'Generate QR Code' }).waitFor();
    assert.equal(await dashboard.locator('#connected-box').isVisible(), false);
    await dashboard.context().close();
  });

  it('no page logged a console error', () => {
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(expectedErrors, [], 'an error the test provoked was not seen');
  });
});
