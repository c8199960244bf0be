import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { TokenService } from './token.service';

const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

interface Signer {
  kid: string;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
  privateJwk: Record<string, unknown>;
}

function signer(kid: string): Signer {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    kid,
    privateKey,
    jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig' },
    privateJwk: { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' },
  };
}

function rs256(key: Signer, header: Record<string, unknown> = { kid: key.kid }): string {
  const body = `${segment({ alg: 'RS256', typ: 'JWT', ...header })}.${segment({ sub: 'ada', exp: now() + 60 })}`;
  return `${body}.${createSign('RSA-SHA256').update(body).sign(key.privateKey).toString('base64url')}`;
}

/** A key set served on loopback: what it answers is set by the test; it counts the fetches. */
class KeySetServer {
  fetches = 0;
  answer: (res: ServerResponse, path: string | undefined) => void = () => undefined;
  private readonly server: Server = createServer((req, res) => {
    this.fetches++;
    this.answer(res, req.url);
  });

  serve(...signers: Signer[]): void {
    this.answer = (res) => res.end(JSON.stringify({ keys: signers.map((s) => s.jwk) }));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('TokenService with jwt.jwksUrl (a real key set over loopback HTTP)', () => {
  const [first, second, third] = [signer('k1'), signer('k2'), signer('k3')];
  let keySet: KeySetServer;
  let url: string;
  const services: TokenService[] = [];

  beforeEach(async () => {
    keySet = new KeySetServer();
    url = await keySet.listen();
  });
  afterEach(async () => {
    for (const service of services.splice(0)) service.onModuleDestroy();
    await keySet.close();
  });

  async function started(jwt: Record<string, unknown> = {}): Promise<TokenService> {
    const service = new TokenService(
      resolveRealtimeOptions({ jwt: { jwksUrl: url, jwksCooldownMs: 60_000, ...jwt } }),
    );
    services.push(service);
    await service.onModuleInit();
    return service;
  }
  const verdict = (service: TokenService, token: string) => {
    try {
      return service.verify(token).userId;
    } catch (error) {
      return (error as Error).message;
    }
  };

  it("accepts tokens of the key set's keys, each checked with the key its kid names", async () => {
    keySet.serve(first, second);
    const tokens = await started();
    expect(verdict(tokens, rs256(first))).toBe('ada');
    expect(verdict(tokens, rs256(second))).toBe('ada');
    expect(verdict(tokens, rs256(first, { kid: 'k2' }))).toBe('invalid token');
    // A key set's keys are named: a token naming none is checked with no key.
    expect(verdict(tokens, rs256(first, {}))).toBe('invalid token');
  });

  it('fetches again when a token names a kid it lacks, once per cooldown, and never waits for it', async () => {
    keySet.serve(first);
    const tokens = await started({ jwksCooldownMs: 1 });
    keySet.serve(first, second);
    // Refused for now, as one to retry: the fetch it started is running.
    expect(verdict(tokens, rs256(second))).toBe('token key not loaded yet');
    // While that fetch runs, more unknown kids start no other.
    for (let i = 0; i < 50; i++) verdict(tokens, rs256(third));
    await until(() => verdict(tokens, rs256(second)) === 'ada', 'the rotated key accepted');
    expect(keySet.fetches).toBe(2);

    const patient = await started({ jwksCooldownMs: 3_600_000 });
    const before = keySet.fetches;
    // Within the cooldown nothing is on the way: refused outright.
    expect(verdict(patient, rs256(third))).toBe('invalid token');
    for (let i = 0; i < 50; i++) verdict(patient, rs256(third));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(keySet.fetches).toBe(before);
  });

  it('fetches again on its timer', async () => {
    keySet.serve(first);
    const tokens = await started({ jwksRefreshMs: 50, jwksCooldownMs: 3_600_000 });
    keySet.serve(second);
    await until(() => verdict(tokens, rs256(second)) === 'ada', 'the refreshed key accepted');
    expect(verdict(tokens, rs256(first))).not.toBe('ada');
  });

  it('keeps the keys it has when a fetch fails, whatever the answer', async () => {
    keySet.serve(first);
    const tokens = await started({ jwksRefreshMs: 20 });
    const failures: Record<string, (res: ServerResponse, path: string | undefined) => void> = {
      'a 500': (res) => res.writeHead(500).end(JSON.stringify({ keys: [second.jwk] })),
      'no JSON': (res) => res.end('not json'),
      'no key list': (res) => res.end('{"keys":{}}'),
      'no key Node can read': (res) =>
        res.end(JSON.stringify({ keys: [{ kty: 'RSA', kid: 'x' }] })),
      'keys without kid': (res) => res.end(JSON.stringify({ keys: [{ ...second.jwk, kid: '' }] })),
      'encryption keys': (res) =>
        res.end(JSON.stringify({ keys: [{ ...second.jwk, use: 'enc' }] })),
      'private keys': (res) => res.end(JSON.stringify({ keys: [second.privateJwk] })),
      'a redirect': (res, path) =>
        path === '/elsewhere'
          ? res.end(JSON.stringify({ keys: [second.jwk] }))
          : res.writeHead(302, { location: '/elsewhere' }).end(),
      'over 1 MiB': (res) =>
        res.end(JSON.stringify({ keys: [second.jwk], pad: 'x'.repeat(2 * 1024 * 1024) })),
    };
    for (const [answer, failure] of Object.entries(failures)) {
      const seen = keySet.fetches;
      keySet.answer = failure;
      await until(() => keySet.fetches >= seen + 2, 'two failed fetches');
      expect({ answer, first: verdict(tokens, rs256(first)) }).toEqual({ answer, first: 'ada' });
      expect({ answer, second: verdict(tokens, rs256(second)) }).not.toEqual({
        answer,
        second: 'ada',
      });
    }
  });

  it('starts without keys when the first fetch fails, and takes them once one succeeds', async () => {
    keySet.answer = (res) => res.writeHead(503).end();
    const tokens = await started({ jwksCooldownMs: 20 });
    expect(verdict(tokens, rs256(first))).not.toBe('ada');
    keySet.serve(first);
    await until(() => verdict(tokens, rs256(first)) === 'ada', 'the key accepted after a retry');
  });

  it('with a public key too: tokens naming no key use it, named ones the key set', async () => {
    keySet.serve(second);
    const pem = createPublicKey({ key: first.jwk, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    const tokens = await started({ publicKey: pem, jwksCooldownMs: 1 });
    expect(verdict(tokens, rs256(first, {}))).toBe('ada');
    expect(verdict(tokens, rs256(second))).toBe('ada');
    // Accepted by the configured key, a token naming another kid starts no fetch.
    expect(verdict(tokens, rs256(first, { kid: 'our-issuer' }))).toBe('ada');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(keySet.fetches).toBe(1);
  });

  it('stops its timer and its fetch on shutdown', async () => {
    keySet.serve(first);
    const tokens = await started({ jwksRefreshMs: 10, jwksCooldownMs: 1 });
    let hanging: ServerResponse | undefined;
    keySet.answer = (res) => {
      hanging = res;
    };
    await until(() => hanging !== undefined, 'a fetch held open');
    const aborted = new Promise((resolve) => hanging?.on('close', resolve));
    tokens.onModuleDestroy();
    await aborted;
    const fetches = keySet.fetches;
    verdict(tokens, rs256(second));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(keySet.fetches).toBe(fetches);
  });
});
