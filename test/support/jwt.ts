import { createHmac } from 'node:crypto';

/**
 * JWTs built by hand with node:crypto, so tests can make exactly the tokens an
 * attacker would: no `exp`, `alg: none`, another algorithm, a forged signature.
 */
export type JwtClaims = Record<string, unknown>;

const HMAC: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

function segment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Signs claims with an HMAC algorithm (HS256 unless the header says otherwise). */
export function signJwt(claims: JwtClaims, secret: string, header: JwtClaims = {}): string {
  const head = { alg: 'HS256', typ: 'JWT', ...header };
  const algorithm = HMAC[String(head.alg)];
  if (!algorithm) throw new Error(`signJwt cannot sign ${String(head.alg)}`);
  const body = `${segment(head)}.${segment(claims)}`;
  return `${body}.${createHmac(algorithm, secret).update(body).digest('base64url')}`;
}

/** An unsecured JWT (`alg: none`, empty signature), as RFC 7519 §6 spells it. */
export function unsecuredJwt(claims: JwtClaims): string {
  return `${segment({ alg: 'none', typ: 'JWT' })}.${segment(claims)}.`;
}

/** The claims of a token, without verifying it. */
export function decodeJwt(token: string): JwtClaims {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JwtClaims;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * An `exp` (seconds) at least `ms` from now. `exp` has one-second resolution,
 * so `nowSeconds() + 1` leaves anywhere between 0 and 1000 ms: a handshake
 * started late in a second can find such a token already expired.
 */
export function expAtLeast(ms: number): number {
  return Math.ceil((Date.now() + ms) / 1000);
}
