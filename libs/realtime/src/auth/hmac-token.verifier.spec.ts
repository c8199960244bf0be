import fc from 'fast-check';
import jsonwebtoken from 'jsonwebtoken';
import { createHmac, createSecretKey } from 'node:crypto';
import type { JwtAlgorithm } from '../options/realtime-module-options.interface';
import { HmacTokenVerifier, type HmacVerifyOptions } from './hmac-token.verifier';
import { TokenKeyRing } from './token-key-ring';

const SECRET = 'hmac-verifier-spec-secret-0123456789-abcdef';
const KEY = createSecretKey(Buffer.from(SECRET));
const KEYS = new TokenKeyRing([{ key: KEY }]);
const NOW = 1_800_000_000;
const DIGEST: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };
const b64 = (text: string) => Buffer.from(text).toString('base64url');

/** What jsonwebtoken makes of the token with the options TokenService gives it. */
function reference(token: string, options: HmacVerifyOptions): unknown {
  try {
    const payload = jsonwebtoken.verify(token, KEY, {
      algorithms: [...options.algorithms],
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: options.clockToleranceSec,
      clockTimestamp: NOW,
    }) as unknown;
    // Returned as it is by jsonwebtoken and refused by the claim rules; refused up front here.
    const isObject = typeof payload === 'object' && payload !== null && !Array.isArray(payload);
    return isObject ? payload : 'invalid token';
  } catch (error) {
    return (error as Error).name === 'TokenExpiredError' ? 'token expired' : 'invalid token';
  }
}

/** A JSON object from raw JSON values, absent ones left out. */
function objectText(members: Record<string, string | undefined>): string {
  const present = Object.entries(members).filter(([, value]) => value !== undefined);
  return `{${present.map(([key, value]) => `"${key}":${value}`).join(',')}}`;
}

function sign(input: string, alg: string, secret = SECRET): string {
  return createHmac(DIGEST[alg] ?? 'sha256', secret)
    .update(input)
    .digest('base64url');
}

// Claim values around NOW and the tolerance, as raw JSON text so that 1e400 (Infinity), -0
// and fractions reach the parser as a token would carry them.
const offset = fc.oneof(
  fc.integer({ min: -40, max: 40 }),
  fc.constantFrom(-0.5, 0.5, 0.999, -30.5, 29.5, 30.0001),
);
const claimValue = fc.oneof(
  { weight: 6, arbitrary: offset.map((d) => String(NOW + d)) },
  fc.constantFrom(
    '0',
    '-0',
    '-1',
    '1e400',
    '-1e400',
    '1e300',
    '9007199254740993',
    'null',
    'true',
    '"1800000000"',
    '"soon"',
    '[1800000000]',
    '{}',
  ),
);
const stringOrList = (good: string) =>
  fc.constantFrom(
    `"${good}"`,
    `"${good.toUpperCase()}"`,
    '"other"',
    `["other","${good}"]`,
    '["other"]',
    '[]',
    '1',
    'null',
    `[["${good}"]]`,
  );

const claimsText = fc
  .record(
    {
      sub: fc.constantFrom('"ada"', '1', 'null'),
      exp: claimValue,
      nbf: claimValue,
      iat: claimValue,
      iss: stringOrList('issuer'),
      aud: stringOrList('audience'),
    },
    { requiredKeys: [] },
  )
  .map(objectText);

const payloadText = fc.oneof(
  { weight: 8, arbitrary: claimsText },
  claimsText.map((text) => JSON.stringify(text)), // a JSON string holding the claims
  fc.constantFrom('null', '1', '"ada"', '[]', '[{"exp":1}]', 'true', '', '{', ' {} ', '\uFEFF{}'),
  fc.constant(`{"__proto__":{"exp":${NOW - 60}},"sub":"ada"}`),
  fc.string({ maxLength: 12 }),
);

const headerText = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record(
        {
          alg: fc.constantFrom(
            '"HS256"',
            '"HS384"',
            '"HS512"',
            '"none"',
            '"RS256"',
            '"ES256"',
            '"hs256"',
            '"HS256 "',
            '["HS256"]',
            'null',
          ),
          typ: fc.constantFrom('"JWT"', '"jwt"', '"JOSE"', '1', 'null'),
          kid: fc.constantFrom('"k1"', '"\u00e9"', '"\\u0000"'),
        },
        { requiredKeys: ['alg'] },
      )
      .map(objectText),
  },
  fc.constantFrom('1', '0', 'null', '"HS256"', '[]', 'true', '{', '{"alg":"HS256"} x'),
);

/** Ways to damage a well-signed token. */
const damage = fc.constantFrom(
  'none',
  'none',
  'none',
  'flip',
  'padding',
  'trailing-bits',
  'no-signature',
  'extra-segment',
  'two-segments',
  'space',
  'newline',
  'plus-slash',
  'other-secret',
  'other-digest',
);

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The same bytes in other text: the last character of an HS* signature carries unused bits. */
function otherTrailingBits(signature: string): string {
  const last = BASE64URL[BASE64URL.indexOf(signature.at(-1) ?? 'A') ^ 1];
  return `${signature.slice(0, -1)}${last}`;
}

function damaged(header: string, payload: string, alg: string, how: string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = sign(input, alg);
  switch (how) {
    case 'flip':
      return `${input}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    case 'padding':
      return `${input}.${signature}=`;
    case 'trailing-bits':
      return `${input}.${otherTrailingBits(signature)}`;
    case 'no-signature':
      return `${input}.`;
    case 'extra-segment':
      return `${input}.${signature}.${signature}`;
    case 'two-segments':
      return input;
    case 'space':
      return ` ${input}.${signature}`;
    case 'newline':
      return `${input}.${signature}\n`;
    case 'plus-slash':
      return `${input}.${signature.replace(/-/g, '+').replace(/_/g, '/')}`;
    case 'other-secret':
      return `${input}.${sign(input, alg, `${SECRET}!`)}`;
    case 'other-digest':
      return `${input}.${sign(input, alg === 'HS256' ? 'HS512' : 'HS256')}`;
    default:
      return `${input}.${signature}`;
  }
}

const options = fc.record({
  algorithms: fc.constantFrom<JwtAlgorithm[]>(
    ['HS256'],
    ['HS384', 'HS512'],
    ['HS256', 'HS384', 'HS512'],
  ),
  issuer: fc.constantFrom(undefined, 'issuer'),
  audience: fc.constantFrom(undefined, 'audience'),
  clockToleranceSec: fc.constantFrom(0, 5, 30),
});

function agree(token: string, opts: HmacVerifyOptions): void {
  expect(new HmacTokenVerifier(KEYS, opts).verify(token, NOW)).toEqual(reference(token, opts));
}

describe('HmacTokenVerifier', () => {
  it('decides every token as jsonwebtoken does (accepted claims, expired, invalid)', () => {
    fc.assert(
      fc.property(
        headerText,
        payloadText,
        fc.constantFrom('HS256', 'HS384', 'HS512'),
        damage,
        options,
        (header, payload, alg, how, opts) => {
          // Sign with the header's own algorithm when it names one, so that most tokens get far.
          const named = /"alg":"(HS\d{3})"/.exec(header)?.[1] ?? alg;
          agree(damaged(header, payload, named, how), opts);
        },
      ),
      { numRuns: 4000 },
    );
  });

  it('decides each token of a stream as jsonwebtoken does with one verifier (it remembers the last header)', () => {
    const token = fc
      .tuple(headerText, payloadText, fc.constantFrom('HS256', 'HS384', 'HS512'), damage)
      .map(([header, payload, alg, how]) =>
        damaged(header, payload, /"alg":"(HS\d{3})"/.exec(header)?.[1] ?? alg, how),
      );
    fc.assert(
      fc.property(fc.array(token, { minLength: 2, maxLength: 12 }), options, (tokens, opts) => {
        const verifier = new HmacTokenVerifier(KEYS, opts);
        for (const each of tokens)
          expect(verifier.verify(each, NOW)).toEqual(reference(each, opts));
      }),
      { numRuns: 500 },
    );
  });

  it('decides well-formed tokens with claims around the clock tolerance as jsonwebtoken does', () => {
    const nearBoundary = fc
      .tuple(fc.constantFrom(0, 5, 30), fc.constantFrom(-1, -0.5, 0, 0.5, 1), fc.boolean())
      .map(([base, delta, negate]) => String(NOW + (negate ? -base : base) + delta));
    const claim = fc.option(fc.oneof(nearBoundary, claimValue), { nil: undefined });
    fc.assert(
      fc.property(
        fc.record({ exp: claim, nbf: claim, iat: claim }),
        fc.constantFrom('HS256', 'HS384', 'HS512'),
        fc.constantFrom('none', 'none', 'trailing-bits'),
        fc.constantFrom(undefined, 'JWT'),
        options,
        (times, alg, how, typ, opts) => {
          const payload = objectText({ sub: '"ada"', ...times });
          const header = JSON.stringify({ alg, typ });
          const withClaims = { ...opts, issuer: undefined, audience: undefined };
          agree(damaged(header, payload, alg, how), withClaims);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('refuses a signature with other trailing bits, as jwa compares the text', () => {
    const input = `${b64('{"alg":"HS256"}')}.${b64(`{"exp":${NOW + 60}}`)}`;
    const signature = sign(input, 'HS256');
    const other = otherTrailingBits(signature);
    expect(Buffer.from(other, 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
    const opts = {
      algorithms: ['HS256'] as JwtAlgorithm[],
      issuer: undefined,
      audience: undefined,
      clockToleranceSec: 0,
    };
    expect(new HmacTokenVerifier(KEYS, opts).verify(`${input}.${signature}`, NOW)).toEqual({
      exp: NOW + 60,
    });
    expect(new HmacTokenVerifier(KEYS, opts).verify(`${input}.${other}`, NOW)).toBe(
      'invalid token',
    );
    agree(`${input}.${other}`, opts);
  });

  it('decides arbitrary strings and segments as jsonwebtoken does', () => {
    const segment = fc.oneof(
      fc.stringMatching(/^[\w-]{0,24}$/),
      fc.string({ maxLength: 8 }),
      fc.constantFrom(b64('{"alg":"HS256","typ":"JWT"}'), b64('{"alg":"none"}'), 'e30', 'e30='),
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }), options, (parts, opts) => {
        agree(parts.join('.'), opts);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['valid', { sub: 'ada', exp: NOW + 60 }, { sub: 'ada', exp: NOW + 60 }],
    ['expired at exp + tolerance', { exp: NOW - 5 }, 'token expired'],
    ['valid just before exp + tolerance', { exp: NOW - 4.5 }, { exp: NOW - 4.5 }],
    ['not yet valid', { nbf: NOW + 6 }, 'invalid token'],
    ['a string exp', { exp: String(NOW + 60) }, 'invalid token'],
    ['expired with a wrong audience', { exp: NOW - 60, aud: 'other' }, 'token expired'],
  ])('%s', (_case, claims, expected) => {
    const opts = {
      algorithms: ['HS256'] as JwtAlgorithm[],
      issuer: undefined,
      audience: 'audience',
      clockToleranceSec: 5,
    };
    const token = damaged(
      JSON.stringify({ alg: 'HS256', typ: 'JWT' }),
      JSON.stringify({ aud: 'audience', ...claims }),
      'HS256',
      'none',
    );
    const verdict = new HmacTokenVerifier(KEYS, opts).verify(token, NOW);
    expect(verdict).toEqual(
      typeof expected === 'string' ? expected : { aud: 'audience', ...expected },
    );
    agree(token, opts);
  });
});
