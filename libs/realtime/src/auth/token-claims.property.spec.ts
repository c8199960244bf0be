import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { TokenRejectedError, TokenService } from './token.service';

const SECRET = 'token-claims-property-secret-0123456789-abcdef';
const TOLERANCE_SEC = 5;
/** Every refusal the contract lets a client read (docs/protocol.md §1, the 401 bodies). */
const REFUSALS = new Set([
  'invalid token',
  'token expired',
  'token has no exp',
  'token has no valid sub',
  'token iat is invalid',
  'token issued in the future',
  'token roles are invalid',
  'token jti is invalid',
]);
const SUB = /^[A-Za-z0-9_.@=-]{1,100}$/;

function hs256(claims: Record<string, unknown>): string {
  const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${segment({ alg: 'HS256', typ: 'JWT' })}.${segment(claims)}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

/** Seconds from now, never within 2 s of a boundary the tolerance draws (the clock moves while we check). */
const around = (nowSec: number) =>
  fc
    .oneof(fc.integer({ min: -4_000, max: 4_000 }), fc.constantFrom(-1e9, 1e9, 1e12))
    .filter((delta) => Math.abs(Math.abs(delta) - TOLERANCE_SEC) > 2 && Math.abs(delta) > 2)
    .map((delta) => nowSec + delta);

/** Values of every JSON type, huge and tiny numbers, any unicode, lengths around every bound. */
const anything = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, 5e-324, 2 ** 53 + 2, [], {}),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ minLength: 99, maxLength: 102 }),
  fc.double(),
  fc.jsonValue({ maxDepth: 2 }),
);
/** Mostly valid, so that accepted tokens are checked as often as refused ones. */
const mostly = <T>(valid: fc.Arbitrary<T>, ...others: fc.Arbitrary<unknown>[]) =>
  fc.oneof(
    { weight: 6, arbitrary: valid },
    ...others.map((arbitrary) => ({ weight: 1, arbitrary })),
  );
const sub = mostly(
  fc.stringMatching(SUB),
  fc.constantFrom('a'.repeat(100), 'a'.repeat(101), 'auth0|9', 'ünïcode', ''),
  anything,
);
const roles = mostly(
  fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), { maxLength: 66 }),
  fc.array(fc.oneof(fc.string({ maxLength: 102 }), anything), { maxLength: 4 }),
  fc.constantFrom(Array(64).fill('r'), Array(65).fill('r'), ['r'.repeat(100)], ['r'.repeat(101)]),
  anything,
);
const jti = mostly(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('j'.repeat(256), 'j'.repeat(257)),
  anything,
);

/** The claim rules (docs/security.md, Claims), written from the contract, not from the code. */
function accepts(claims: Record<string, unknown>, nowMs: number): boolean {
  const nowSec = Math.floor(nowMs / 1000);
  const { sub: s, exp, iat, nbf, roles: r, jti: j } = claims;
  const number = (value: unknown) => typeof value === 'number' && Number.isFinite(value);
  if (nbf !== undefined && (!number(nbf) || (nbf as number) > nowSec + TOLERANCE_SEC)) return false;
  if (!number(exp) || nowSec >= (exp as number) + TOLERANCE_SEC) return false;
  if (typeof s !== 'string' || !SUB.test(s)) return false;
  if (
    iat !== undefined &&
    (!number(iat) || (iat as number) * 1000 > nowMs + TOLERANCE_SEC * 1000)
  ) {
    return false;
  }
  const roleList = (value: unknown) =>
    Array.isArray(value) &&
    value.length <= 64 &&
    value.every((role) => typeof role === 'string' && role.length >= 1 && role.length <= 100);
  if (r !== undefined && !roleList(r)) return false;
  return j === undefined || (typeof j === 'string' && j.length <= 256);
}

/**
 * Token claims of every type and size (docs/security.md, Claims): the
 * service accepts exactly the tokens the rules accept, turns them into the
 * principal the claims say, and refuses the others with TokenRejectedError
 * and one of the contract's messages, never anything else.
 */
describe('token claims, whatever they hold', () => {
  const tokens = new TokenService(
    resolveRealtimeOptions({ jwt: { secret: SECRET, clockToleranceSec: TOLERANCE_SEC } }),
  );

  it('accepts exactly the claims the rules accept, as the principal they describe', () => {
    const nowSec = Math.floor(Date.now() / 1000);
    const time = mostly(around(nowSec), anything);
    const optional = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined, freq: 2 });
    const claims = fc.record({
      sub: mostly(sub, fc.constant(undefined)),
      exp: mostly(time, fc.constant(undefined)),
      iat: optional(time),
      nbf: optional(time),
      roles: optional(roles),
      jti: optional(jti),
      extra: optional(anything),
    });
    fc.assert(
      fc.property(claims, (given) => {
        const token = hs256(given);
        const now = Date.now();
        let outcome: Record<string, unknown>;
        try {
          const principal = tokens.verify(token);
          outcome = { accepted: true, principal };
        } catch (error) {
          expect(error).toBeInstanceOf(TokenRejectedError);
          expect(REFUSALS.has((error as Error).message)).toBe(true);
          outcome = { accepted: false };
        }
        // JSON drops what it cannot say (undefined, -0 as 0): the rules read what was signed.
        const signed = JSON.parse(JSON.stringify(given)) as Record<string, unknown>;
        if (!accepts(signed, now)) {
          expect(outcome).toEqual({ accepted: false });
          return;
        }
        expect(outcome).toEqual({
          accepted: true,
          principal: {
            userId: signed.sub,
            roles: signed.roles ?? [],
            tokenId: signed.jti,
            expiresAt: (signed.exp as number) * 1000,
            issuedAt: signed.iat === undefined ? undefined : (signed.iat as number) * 1000,
          },
        });
      }),
      { numRuns: 3_000 },
    );
  });
});
