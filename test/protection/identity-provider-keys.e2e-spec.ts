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
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'idp-1', use: 'sig' };
    keySet = createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => keySet.listen(0, '127.0.0.1', resolve));
    const { port } = keySet.address() as AddressInfo;
    app = await LibraryApp.start({
      realtime: {
        jwt: {
          jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
          issuer: 'https://idp.example.com/',
          audience: 'shop',
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

  it('refuses a token naming the key but signed by another, and one naming no key of the set', async () => {
    for (const refused of [token('eve', 'idp-1', other.privateKey), token('eve', 'idp-2')]) {
      const result = await app.tryConnect({ token: refused });
      expect(result).toMatchObject({ kind: 'refused', status: 401 });
    }
  });
});
