import { BroadcastService, CloseCode } from '@nest-realtime/server';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { CHROMIUM } from '../support/chromium';
import { DemoApp } from '../support/demo-app';
import { freePort } from '../support/free-port';
import { TcpProxy } from '../support/tcp-proxy';
import { waitUntil } from '../support/waits';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const OUTPUT = join(__dirname, '..', '..', 'test-output');
/** What the page shows comes when Chromium gets a core: generous, since a pass never waits it out. */
const UI_WAIT_MS = 15_000;
/** The browser client's pong timeout: a round trip through the relay and the demo, on a busy machine. */
const PONG_TIMEOUT_MS = 600;

/**
 * The demo page in headless Chromium, served by the demo app at GET / on the
 * default origin allow-list (`http://localhost:$PORT`): an order created in
 * the page appears live, an admin's status change shows, and after the
 * server drops the page's socket (1012) the page reconnects and recovers
 * what was published meanwhile.
 */
describe('demo page in a browser', () => {
  let demo: DemoApp;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    demo = await DemoApp.start({ PORT: String(port), REALTIME_ALLOWED_ORIGINS: undefined }, port);
    // launch() gives every run a fresh temporary profile (user-data-dir).
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    page.setDefaultTimeout(UI_WAIT_MS);
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  const state = () => page.locator('#state');
  const orderRows = () => page.locator('#orders tr');

  it('shows orders live, an admin status change, and recovers after the server drops it', async () => {
    await page.goto(`http://localhost:${demo.port}/`);
    await page.getByLabel('User id').first().fill('ada');
    await page.getByLabel('admin').check();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectText(state(), 'connected');

    // An order created through the page comes back over the socket.
    await page.locator('#create-order input[name=sku]').fill('SKU-7');
    await page.locator('#create-order input[name=qty]').fill('3');
    await page.getByRole('button', { name: 'Create order' }).click();
    await expectCount(orderRows(), 1);
    const row = orderRows().first();
    await expectText(row.locator('td').nth(2), '3 × SKU-7');

    // The admin changes its status in the row: the change arrives live too.
    await row.locator('select').selectOption('shipped');
    await page.waitForSelector('#orders td[data-status="shipped"]', { timeout: UI_WAIT_MS });

    // Stock and broadcast through the admin forms.
    await page.locator('#set-stock input[name=sku]').fill('SKU-7');
    await page.locator('#set-stock input[name=stock]').fill('42');
    await page.getByRole('button', { name: 'Set stock' }).click();
    await expectText(page.locator('#inventory tr[data-sku="SKU-7"] td').nth(1), '42');
    // Presence: the page is in the chat room and watches orders; another user joins the room.
    await expectText(page.locator('#chat-members'), 'ada');
    const carl = await demo.connect({ token: await demo.token('carl') });
    expect((await carl.request('subscribe', { topics: ['chat:lobby', 'orders'] })).event).toBe(
      'subscribed',
    );
    await page.waitForSelector('#chat-members li:has-text("carl")', { timeout: UI_WAIT_MS });
    await expectText(page.locator('#chat-count'), '2');
    await page.getByRole('button', { name: 'Broadcast' }).click();
    await page.waitForSelector('#feed li:has-text("broadcast: Hello, everyone")', {
      timeout: UI_WAIT_MS,
    });

    // The server drops the page's socket as a restart would (1012); an order
    // placed by someone else meanwhile must still show once the page is back.
    const states: string[] = [];
    await page.exposeFunction('recordState', (value: string) => states.push(value));
    // Runs in the page (a string: this file is compiled without the DOM library).
    await page.evaluate(`
      const badge = document.getElementById('state');
      new MutationObserver(() => window.recordState(badge.textContent)).observe(badge, { childList: true });
    `);
    // The page's reconnect waits for its token request until bob's order is in:
    // the order can only reach the page through recovery (`since`).
    const bob = await demo.token('bob');
    let placeOrder!: () => void;
    const orderPlaced = new Promise<void>((resolve) => (placeOrder = resolve));
    await page.route('**/auth/token', async (route) => {
      await orderPlaced;
      await route.continue();
    });
    await demo.app.get(BroadcastService).disconnectUser('ada', CloseCode.ServiceRestart);
    await expectText(state(), 'reconnecting');
    const placed = await demo.http('POST', '/orders', { items: [{ sku: 'GAP-1', qty: 1 }] }, bob);
    expect(placed.status).toBe(201);
    placeOrder();

    await expectText(page.locator('#reconnects'), '1');
    await expectText(state(), 'connected');
    expect(states).toContain('disconnected');
    await expectCount(orderRows(), 2);
    await expectText(orderRows().first().locator('td').nth(1), 'bob');
    expect(await page.locator('#feed').textContent()).not.toContain('history of');

    // The admin view shows /ws/stats.
    await page.waitForSelector('#stats:has-text("connections")', { timeout: UI_WAIT_MS });

    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'demo-page.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);

    // An admin action's error stays in view through the stats refreshes (every 2 s).
    let statsRequests = 0;
    page.on('request', (request) => {
      if (request.url().endsWith('/ws/stats')) statsRequests++;
    });
    await page.locator('#revoke input[name=userId]').fill('not a user id');
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.waitForSelector('#problem:not(:empty)', { timeout: UI_WAIT_MS });
    const refreshes = statsRequests;
    await waitUntil(() => statsRequests > refreshes + 1, 10_000, 'two stats refreshes');
    expect(await page.locator('#problem').textContent()).not.toBe('');
  });

  it("detects a dead link with the browser's ping event and reconnects", async () => {
    // Browsers cannot send protocol pings: the client sends `ping` events. The
    // client goes in as a script on the demo's origin; its socket runs through
    // a relay that then goes silent.
    const bundle = await build({
      entryPoints: [join(__dirname, '..', '..', 'libs/realtime-client/src/index.ts')],
      tsconfig: join(__dirname, '..', '..', 'tsconfig.json'),
      bundle: true,
      format: 'iife',
      globalName: 'RealtimeClientLib',
      write: false,
      logLevel: 'silent',
    });
    const proxy = await TcpProxy.start(demo.port);
    const context = await browser.newContext({ bypassCSP: true });
    try {
      const tab = await context.newPage();
      tab.setDefaultTimeout(UI_WAIT_MS);
      await tab.goto(`http://localhost:${demo.port}/`);
      await tab.addScriptTag({ content: bundle.outputFiles[0].text });
      await tab.evaluate(`
        window.events = [];
        const client = new RealtimeClientLib.RealtimeClient({
          url: 'ws://localhost:${proxy.port}/ws',
          getToken: () =>
            fetch('/auth/token', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ userId: 'cat' }),
            }).then((response) => response.json()).then((body) => body.token),
          heartbeatMs: 200,
          pongTimeoutMs: ${PONG_TIMEOUT_MS},
          backoff: { initialMs: 50, maxMs: 200 },
        });
        client.on('connected', () => window.events.push('connected'));
        client.on('disconnected', ({ code }) => window.events.push(code));
        client.connect();
      `);
      const events = () => tab.evaluate<Array<string | number>>('window.events');
      await tab.waitForFunction('window.events.includes("connected")');
      // Idle but alive: `ping` events keep being answered, nothing is dropped (longer than a beat
      // and its pong timeout, so an unanswered ping would have dropped the link by then).
      await tab.waitForTimeout(200 + PONG_TIMEOUT_MS + 200);
      expect(await events()).toEqual(['connected']);

      proxy.freeze();
      await tab.waitForFunction('window.events.length === 3');
      expect(await events()).toEqual(['connected', 4000, 'connected']);
    } finally {
      await context.close();
      await proxy.stop();
    }
  });
});

async function expectText(
  locator: ReturnType<Page['locator']>,
  text: string,
  timeout = UI_WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    last = (await locator.textContent()) ?? '';
    if (last.trim() === text) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`expected "${text}", last saw "${last}"`);
}

async function expectCount(
  locator: ReturnType<Page['locator']>,
  count: number,
  timeout = UI_WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeout;
  while ((await locator.count()) !== count) {
    if (Date.now() > deadline)
      throw new Error(`expected ${count} elements, saw ${await locator.count()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
