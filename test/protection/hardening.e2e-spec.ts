import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { TEST_JWT_SECRET } from '../support/demo-app';
import { DEMO_MAIN, DemoProcess } from '../support/demo-process';
import { nowSeconds, signJwt } from '../support/jwt';
import { ALLOWED_ORIGIN, ProtectedApp } from '../support/protected-app';
import { expectAccepted, expectRefused } from '../support/refusals';
import { sleep, within } from '../support/waits';

/** The raw answer to an upgrade request: what a prober sees, subprotocol header included. */
function upgrade(
  port: number,
  headers: Record<string, string>,
): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return within(
    new Promise((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        path: '/ws',
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Version': '13',
          ...headers,
        },
      });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
      });
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
      });
      req.on('error', reject);
      req.end();
    }),
    3_000,
    'upgrade',
  );
}

/** Issue "Hardening against hostile clients", items 5–10. */
describe('hardening: tokens, claims, headers, profiles', () => {
  describe('the library', () => {
    let app: ProtectedApp;

    beforeAll(async () => {
      app = await ProtectedApp.start();
    });
    afterAll(() => app.stop());

    it('refuses a token issued in the future (401), at the handshake and in `auth`', async () => {
      const future = app.token('ada', { iat: nowSeconds() + 120 });
      const refusal = await expectRefused(app, 401, { token: future });
      expect(refusal.body).toBe('token issued in the future');
      const client = await app.connect();
      const reply = await client.request('auth', { token: future });
      expect(reply.data).toMatchObject({
        code: 'UNAUTHORIZED',
        message: 'token issued in the future',
      });
    });

    it('refuses claims the contract refuses: roles not all strings, a sub that is no user id', async () => {
      for (const token of [
        app.token('ada', { roles: ['admin', 1 as unknown as string] }),
        app.token('a "quoted" sub'),
        app.token('x'.repeat(10_000)),
      ]) {
        await expectRefused(app, 401, { token });
      }
    });

    it('refuses a malformed Authorization header (401), never treating it as anonymous', async () => {
      const token = app.token('ada');
      for (const authorization of [
        `Bearer ${token} extra`,
        'Basic YWRhOnNlY3JldA==',
        'Bearer',
        token,
      ]) {
        await expectRefused(app, 401, {}, { headers: { authorization } });
      }
      const client = await expectAccepted(
        app,
        {},
        { headers: { authorization: `Bearer ${token}` } },
      );
      expect(client.frames[0].data.userId).toBe('ada');
    });

    it('selects no subprotocol and never echoes a token offered as one', async () => {
      const token = app.token('ada');
      const answer = await upgrade(app.port, {
        'Sec-WebSocket-Protocol': `access_token, ${token}`,
      });
      expect(answer.status).toBe(101);
      expect(answer.headers['sec-websocket-protocol']).toBeUndefined();
      expect(JSON.stringify(answer.headers)).not.toContain(token);
    });

    it('refuses every WebSocket version but 13, so the origin check cannot be skipped', async () => {
      const versionEight: Array<Record<string, string>> = [
        { 'Sec-WebSocket-Version': '8', Origin: 'https://evil.example' },
        { 'Sec-WebSocket-Version': '8', 'Sec-WebSocket-Origin': 'https://evil.example' },
        { 'Sec-WebSocket-Version': '8', Origin: ALLOWED_ORIGIN },
      ];
      for (const headers of versionEight) {
        const answer = await upgrade(app.port, headers);
        expect(answer.status).toBe(426);
        expect(answer.headers['sec-websocket-version']).toBe('13');
      }
      expect((await upgrade(app.port, { Origin: 'https://evil.example' })).status).toBe(403);
      expect((await upgrade(app.port, { Origin: ALLOWED_ORIGIN })).status).toBe(101);
    });

    it('gives connections ids that cannot be guessed from one another', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await app.connect()).frames[0].data.connectionId);
      expect(new Set(ids).size).toBe(ids.length);
      for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
      // No shared prefix or counter: neighbours differ from their first character on, nearly always.
      const samePrefix = ids.slice(1).filter((id, i) => id.slice(0, 3) === ids[i].slice(0, 3));
      expect(samePrefix.length).toBeLessThanOrEqual(1);
    });
  });

  describe('the demo over HTTP: the same claim rules as the WebSocket', () => {
    let demo: DemoProcess;
    const sign = (sub: string, roles: unknown[] = []) =>
      signJwt({ sub, roles, iat: nowSeconds(), exp: nowSeconds() + 600 }, TEST_JWT_SECRET);

    beforeAll(async () => {
      demo = await DemoProcess.start();
    });
    afterAll(() => demo.stop());

    it('answers 401 for odd claims, and stores and publishes nothing', async () => {
      const admin = sign('boss', ['admin']);
      const watcher = await demo.connect({ token: sign('watcher') });
      await watcher.request('subscribe', { topics: ['orders'] });
      const before = (await demo.http('GET', '/ws/stats', undefined, admin)).body.counters
        .published;
      const order = { items: [{ sku: 'sku-1', qty: 1 }] };
      for (const token of [
        sign('ada', ['admin', 1]),
        sign('a "quoted" sub'),
        sign('x'.repeat(10_000)),
      ]) {
        const response = await demo.http('POST', '/orders', order, token);
        expect(response.status).toBe(401);
      }
      expect(
        (await demo.http('PATCH', '/orders/1', { status: 'paid' }, sign('ada', ['admin', 1])))
          .status,
      ).toBe(401);
      await sleep(200);
      expect(watcher.messages('orders')).toEqual([]);
      expect((await demo.http('GET', '/ws/stats', undefined, admin)).body.counters.published).toBe(
        before,
      );
      expect(demo.output).not.toMatch(/quoted|\bat\s.*\.js/);
      expect((await demo.http('POST', '/orders', order, sign('ada'))).status).toBe(201);
    });

    it('answers 401 for a malformed Authorization header', async () => {
      for (const authorization of [`Bearer ${sign('ada')} extra`, 'Basic YWRhOnNlY3JldA==']) {
        const response = await demo.http('GET', '/orders/1', undefined, undefined, {
          authorization,
        });
        expect(response.status).toBe(401);
      }
    });
  });

  describe('the demo in production', () => {
    const SECRET = 'production-secret-0123456789-abcdefghijklmnopqrstuv';
    let demo: DemoProcess;

    beforeAll(async () => {
      demo = await DemoProcess.start({ NODE_ENV: 'production', JWT_SECRET: SECRET });
    });
    afterAll(() => demo.stop());

    it('keeps /metrics for admins, refuses anonymous sockets and sends no X-Powered-By', async () => {
      const metrics = await demo.http('GET', '/metrics');
      expect(metrics.status).toBe(401);
      const admin = signJwt({ sub: 'boss', roles: ['admin'], exp: nowSeconds() + 600 }, SECRET);
      expect((await demo.http('GET', '/metrics', undefined, admin)).status).toBe(200);
      const refused = await demo.tryConnect();
      expect(refused).toMatchObject({ kind: 'refused', status: 401 });
      const response = await fetch(`${demo.baseUrl}/health`);
      expect(response.headers.get('x-powered-by')).toBeNull();
      expect((await demo.http('POST', '/auth/token', { userId: 'ada' })).status).toBe(404);
    });
  });

  describe('NODE_ENV', () => {
    async function exitOf(
      env: NodeJS.ProcessEnv,
    ): Promise<{ code: number | null; output: string }> {
      const child = spawn(process.execPath, [DEMO_MAIN], {
        env: { ...process.env, PORT: '0', JWT_SECRET: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [code] = (await once(child, 'exit')) as [number | null];
      clearTimeout(timer);
      return { code, output };
    }

    it.each([
      [{ NODE_ENV: 'prod' }],
      [{ NODE_ENV: 'Production' }],
      [{ NODE_ENV: 'staging' }],
      [{ NODE_ENV: 'production', JWT_SECRET: '   ' }],
    ])('refuses to start with %j and no usable JWT_SECRET', async (env) => {
      const { code, output } = await exitOf(env);
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      expect(output).toContain('JWT_SECRET must be set');
    });
  });
});
