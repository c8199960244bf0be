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

  describe('key rotation (jwt.keys)', () => {
    const OLD = 'token-service-spec-old-secret-0123456789-abcd';
    const NEXT = 'token-service-spec-next-secret-0123456789-abcd';
    const STRANGER = 'token-service-spec-stranger-0123456789-abcdef';
    const signed = (
      header: Record<string, unknown>,
      claims: Record<string, unknown>,
      key: string,
    ) => {
      const body = `${segment({ alg: 'HS256', typ: 'JWT', ...header })}.${segment(claims)}`;
      return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
    };
    const valid = { sub: 'ada', exp: now() + 60 };
    const rotating = new TokenService(
      resolveRealtimeOptions({
        jwt: { secret: SECRET, keys: [{ secret: OLD }, { kid: 'next', secret: NEXT }] },
      }),
    );
    const verdict = (token: string) => {
      try {
        return rotating.verify(token).userId;
      } catch (error) {
        return (error as Error).message;
      }
    };

    it('accepts the current and the previous secret, and a named key for the tokens naming it', () => {
      expect(verdict(signed({}, valid, SECRET))).toBe('ada');
      expect(verdict(signed({}, valid, OLD))).toBe('ada');
      expect(verdict(signed({ kid: 'next' }, valid, NEXT))).toBe('ada');
      // A kid that names none of the keys is no key of ours: the unnamed ones are tried.
      expect(verdict(signed({ kid: 'elsewhere' }, valid, OLD))).toBe('ada');
    });

    it('checks a token naming a key with that key alone, and refuses every other signature', () => {
      expect(verdict(signed({ kid: 'next' }, valid, SECRET))).toBe('invalid token');
      expect(verdict(signed({}, valid, NEXT))).toBe('invalid token');
      expect(verdict(signed({}, valid, STRANGER))).toBe('invalid token');
      expect(verdict(signed({}, { sub: 'ada', exp: now() - 60 }, OLD))).toBe('token expired');
    });

    it('rotates public keys the same way', () => {
      const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
      const [current, previous, next, stranger] = [pair(), pair(), pair(), pair()];
      const pem = (key: typeof current) =>
        key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const rsa = new TokenService(
        resolveRealtimeOptions({
          jwt: {
            publicKey: pem(current),
            keys: [{ publicKey: pem(previous) }, { kid: 'next', publicKey: pem(next) }],
          },
        }),
      );
      const rs256 = (header: Record<string, unknown>, claims: object, key: typeof current) => {
        const body = `${segment({ alg: 'RS256', typ: 'JWT', ...header })}.${segment(claims)}`;
        const signature = createSign('RSA-SHA256').update(body).sign(key.privateKey);
        return `${body}.${signature.toString('base64url')}`;
      };
      const rsaVerdict = (token: string) => {
        try {
          return rsa.verify(token).userId;
        } catch (error) {
          return (error as Error).message;
        }
      };
      expect(rsaVerdict(rs256({}, valid, current))).toBe('ada');
      expect(rsaVerdict(rs256({}, valid, previous))).toBe('ada');
      expect(rsaVerdict(rs256({ kid: 'next' }, valid, next))).toBe('ada');
      expect(rsaVerdict(rs256({ kid: 'next' }, valid, current))).toBe('invalid token');
      expect(rsaVerdict(rs256({}, valid, next))).toBe('invalid token');
      expect(rsaVerdict(rs256({}, valid, stranger))).toBe('invalid token');
      expect(rsaVerdict(rs256({}, { sub: 'ada', exp: now() - 60 }, previous))).toBe(
        'token expired',
      );
      // Public keys in jwt.keys alone: RS256, no development secret.
      const keysOnly = new TokenService(
        resolveRealtimeOptions({ jwt: { keys: [{ kid: 'next', publicKey: pem(next) }] } }),
      );
      expect(keysOnly.verify(rs256({ kid: 'next' }, valid, next)).userId).toBe('ada');
      expect(() => keysOnly.verify(signed({}, valid, SECRET))).toThrow('invalid token');
    });
  });
});
