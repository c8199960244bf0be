import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { LibraryApp } from '../support/library-app';

const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * An app whose tokens come from an identity provider: the module takes the
 * provider's key set (`jwt.jwksUrl`, served here on loopback) before it
 * serves, and checks each handshake's token with the key its `kid` names.
 */
describe('tokens of an identity provider (jwt.jwksUrl)', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const next = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwkOf = (key: typeof next.publicKey, kid: string) => ({
    ...key.export({ format: 'jwk' }),
    kid,
    use: 'sig',
  });
  let served = [jwkOf(publicKey, 'idp-1')];
  let keySet: Server;
  let app: LibraryApp;

  const token = (sub: string, kid: string, key = privateKey) => {
    const now = Math.floor(Date.now() / 1000);
    const body = `${segment({ alg: 'RS256', typ: 'JWT', kid })}.${segment({
      sub,
      iss: 'https://idp.example.com/',
      aud: 'shop',
      exp: now + 60,
    })}`;
    return `${body}.${createSign('RSA-SHA256').update(body).sign(key).toString('base64url')}`;
  };

  beforeAll(async () => {
    keySet = createServer((_req, res) => res.end(JSON.stringify({ keys: served })));
    await new Promise<void>((resolve) => keySet.listen(0, '127.0.0.1', resolve));
    const { port } = keySet.address() as AddressInfo;
    app = await LibraryApp.start({
      realtime: {
        jwt: {
          jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
          issuer: 'https://idp.example.com/',
          audience: 'shop',
          jwksCooldownMs: 1,
        },
        topics: { orders: { subscribe: 'authenticated' } },
      },
    });
  });
  afterAll(async () => {
    await app.stop();
    keySet.closeAllConnections();
    await new Promise((resolve) => keySet.close(resolve));
  });

  it("admits a provider's user from the first handshake, its sub as it is", async () => {
    const result = await app.tryConnect({ token: token('auth0|5f7c8ec7', 'idp-1') });
    if (result.kind !== 'open') throw new Error(`refused: ${JSON.stringify(result)}`);
    const client = result.client;
    const welcome = await client.waitFor((f) => f.event === 'connected');
    expect(welcome.data).toMatchObject({ userId: 'auth0|5f7c8ec7' });
    expect((await client.request('subscribe', { topics: ['orders'] })).event).toBe('subscribed');
  });

  it('refuses a token naming the key but signed by another (401), and one naming no key of the set', async () => {
    const forged = await app.tryConnect({ token: token('eve', 'idp-1', other.privateKey) });
    expect(forged).toMatchObject({ kind: 'refused', status: 401, body: 'invalid token' });
    // An unknown kid starts a fetch of the key set (cooldown 1 ms here): retry (503) or refused.
    for (let attempt = 0; attempt < 5; attempt++) {
      const unknown = await app.tryConnect({ token: token('eve', 'idp-9') });
      expect(unknown.kind === 'refused' && [401, 503].includes(unknown.status)).toBe(true);
    }
  });

  it('answers 503 (retry) to the first token of a rotated key, and admits the retry', async () => {
    served = [jwkOf(publicKey, 'idp-1'), jwkOf(next.publicKey, 'idp-2')];
    const rotated = token('ada', 'idp-2', next.privateKey);
    const first = await app.tryConnect({ token: rotated });
    expect(first).toMatchObject({
      kind: 'refused',
      status: 503,
      body: 'token key not loaded yet',
      headers: { 'retry-after': '1' },
    });
    const deadline = Date.now() + 5_000;
    let retry = await app.tryConnect({ token: rotated });
    while (retry.kind !== 'open' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      retry = await app.tryConnect({ token: rotated });
    }
    expect(retry.kind).toBe('open');
  });
});
