import { createHmac } from 'node:crypto';
import fc from 'fast-check';

/**
 * Token claims of every type and size for property tests (docs/security.md,
 * Claims), and the claim rules written from the contract, not from the code.
 */
/**
 * The clock tolerance the claims are drawn around (never within 2 s of its
 * bounds). A check that spans a bound's second can still see it move: the
 * tests compare only when the rules answer the same before and after.
 */
export const CLAIMS_TOLERANCE_SEC = 5;
/** Printable ASCII but space, `"` and `\`: 0x21, 0x23–0x5B, 0x5D–0x7E. */
const SUB = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

export function hs256(claims: Record<string, unknown>, secret: string): string {
  const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${segment({ alg: 'HS256', typ: 'JWT' })}.${segment(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/** Seconds from now, never within 2 s of a boundary the tolerance draws (the clock moves while we check). */
const around = (nowSec: number, toleranceSec: number) =>
  fc
    .oneof(fc.integer({ min: -4_000, max: 4_000 }), fc.constantFrom(-1e9, 1e9, 1e12))
    .filter((delta) => Math.abs(Math.abs(delta) - toleranceSec) > 2 && Math.abs(delta) > 2)
    .map((delta) => nowSec + delta);

/** Values of every JSON type, huge and tiny numbers, any unicode, lengths around every bound. */
const anything = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, 5e-324, 2 ** 53 + 2, [], {}),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ minLength: 99, maxLength: 102 }),
  fc.string({ minLength: 127, maxLength: 130 }),
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
  fc.constantFrom(
    'a'.repeat(128),
    'a'.repeat(129),
    'auth0|9',
    'jo+x@example.com',
    'a b',
    'a"b',
    'a\\b',
    'ünïcode',
    '',
  ),
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
export function claimsAccepted(
  claims: Record<string, unknown>,
  nowMs: number,
  toleranceSec = CLAIMS_TOLERANCE_SEC,
): boolean {
  const nowSec = Math.floor(nowMs / 1000);
  const { sub: s, exp, iat, nbf, roles: r, jti: j } = claims;
  const number = (value: unknown) => typeof value === 'number' && Number.isFinite(value);
  if (nbf !== undefined && (!number(nbf) || (nbf as number) > nowSec + toleranceSec)) return false;
  if (!number(exp) || nowSec >= (exp as number) + toleranceSec) return false;
  if (typeof s !== 'string' || !SUB.test(s)) return false;
  if (iat !== undefined && (!number(iat) || (iat as number) * 1000 > nowMs + toleranceSec * 1000)) {
    return false;
  }
  const roleList = (value: unknown) =>
    Array.isArray(value) &&
    value.length <= 64 &&
    value.every((role) => typeof role === 'string' && role.length >= 1 && role.length <= 100);
  if (r !== undefined && !roleList(r)) return false;
  return j === undefined || (typeof j === 'string' && j.length <= 256);
}

/** Claims around `nowSec`: mostly valid ones, each claim now and then of any type or size. */
export function claimsArbitrary(
  nowSec: number,
  toleranceSec = CLAIMS_TOLERANCE_SEC,
): fc.Arbitrary<Record<string, unknown>> {
  const time = mostly(around(nowSec, toleranceSec), anything);
  const optional = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined, freq: 2 });
  return fc.record({
    sub: mostly(sub, fc.constant(undefined)),
    exp: mostly(time, fc.constant(undefined)),
    iat: optional(time),
    nbf: optional(time),
    roles: optional(roles),
    jti: optional(jti),
    extra: optional(anything),
  });
}
