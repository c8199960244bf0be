import { createHmac, createSign, generateKeyPairSync } from 'node:crypto';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { TokenRejectedError, TokenService } from './token.service';

const SECRET = 'token-service-spec-secret-0123456789-abcdef';
const now = () => Math.floor(Date.now() / 1000);
const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function hs256(claims: Record<string, unknown>, secret = SECRET): string {
  const body = `${segment({ alg: 'HS256', typ: 'JWT' })}.${segment(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

describe('TokenService', () => {
  const tokens = new TokenService(
    resolveRealtimeOptions({ jwt: { secret: SECRET, clockToleranceSec: 5 } }),
  );
  const rejection = (token: string) => {
    try {
      tokens.verify(token);
    } catch (error) {
      expect(error).toBeInstanceOf(TokenRejectedError);
      return (error as Error).message;
    }
    return 'accepted';
  };

  it('turns valid claims into a principal', () => {
    const principal = tokens.verify(
      hs256({ sub: 'ada', roles: ['admin'], jti: 'j1', iat: now(), exp: now() + 60 }),
    );
    expect(principal).toMatchObject({ userId: 'ada', roles: ['admin'], tokenId: 'j1' });
  });

  it.each([
    'auth0|5f7c8ec7c33c6c004bbafe82',
    'google-oauth2|1234',
    'jo+x@example.com',
    'x'.repeat(128),
  ])("takes an identity provider's subject as it is: %s", (sub) => {
    expect(tokens.verify(hs256({ sub, exp: now() + 60 })).userId).toBe(sub);
  });

  it.each([
    ['a bad signature', hs256({ sub: 'ada', exp: now() + 60 }, 'another-secret'), 'invalid token'],
    ['no exp', hs256({ sub: 'ada' }), 'token has no exp'],
    ['an expired token', hs256({ sub: 'ada', exp: now() - 60 }), 'token expired'],
    ['a sub with a space', hs256({ sub: 'a b', exp: now() + 60 }), 'token has no valid sub'],
    ['a sub with a quote', hs256({ sub: 'a"b', exp: now() + 60 }), 'token has no valid sub'],
    ['a sub past 128', hs256({ sub: 'x'.repeat(129), exp: now() + 60 }), 'token has no valid sub'],
    ['a 10 KB sub', hs256({ sub: 'x'.repeat(10_000), exp: now() + 60 }), 'token has no valid sub'],
    [
      'roles with a number',
      hs256({ sub: 'a', roles: ['admin', 1], exp: now() + 60 }),
      'token roles are invalid',
    ],
    [
      'iat beyond the tolerance',
      hs256({ sub: 'a', iat: now() + 30, exp: now() + 60 }),
      'token issued in the future',
    ],
    ['iat not a number', hs256({ sub: 'a', iat: 'now', exp: now() + 60 }), 'token iat is invalid'],
  ])('refuses %s', (_case, token, message) => {
    expect(rejection(token)).toBe(message);
  });

  it('accepts an iat within the clock tolerance', () => {
    expect(rejection(hs256({ sub: 'a', iat: now() + 3, exp: now() + 60 }))).toBe('accepted');
  });

  it.each([
    [undefined, undefined],
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc', 'abc'],
  ])('reads the Authorization header %p', (header, token) => {
    expect(tokens.bearerToken(header)).toBe(token);
  });

  it.each(['Bearer a b', 'Basic YTpi', 'Bearer', '', 'abc.def.ghi'])(
    'refuses the malformed Authorization header %p',
    (header) => {
      expect(() => tokens.bearerToken(header)).toThrow('malformed authorization header');
    },
  );

  it('verifies RS256 with a public key, and refuses an HS256 token signed with that key', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const rsa = new TokenService(resolveRealtimeOptions({ jwt: { publicKey: pem } }));
    const body = `${segment({ alg: 'RS256', typ: 'JWT' })}.${segment({ sub: 'ada', exp: now() + 60 })}`;
    const signature = createSign('RSA-SHA256').update(body).sign(privateKey).toString('base64url');
    expect(rsa.verify(`${body}.${signature}`).userId).toBe('ada');
    expect(() => rsa.verify(hs256({ sub: 'ada', exp: now() + 60 }, pem))).toThrow('invalid token');
  });
});
