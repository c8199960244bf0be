// HS256 JSON Web Tokens with node:crypto only, so the harness, the load workers and the peer
// servers need no extra dependency. The demo verifies the same tokens with its own JWT stack.
import { createHmac, timingSafeEqual } from 'node:crypto';

const HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

function base64url(input) {
  return Buffer.from(input).toString('base64url');
}

/** Signs `{ sub, iat, exp }` (plus `extra` claims) with HMAC-SHA256. */
export function signToken(secret, sub, { ttlSeconds = 3600, extra = {} } = {}) {
  const iat = Math.floor(Date.now() / 1000);
  const body = base64url(JSON.stringify({ sub, iat, exp: iat + ttlSeconds, ...extra }));
  const signature = createHmac('sha256', secret).update(`${HEADER}.${body}`).digest('base64url');
  return `${HEADER}.${body}.${signature}`;
}

/**
 * Verifies an HS256 token: header algorithm, signature (constant-time compare) and `exp`.
 * Returns the claims, or null when the token must be refused.
 */
export function verifyToken(token, secret) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [header, body, signature] = parts;
  try {
    if (JSON.parse(Buffer.from(header, 'base64url').toString()).alg !== 'HS256') return null;
    const expected = createHmac('sha256', secret).update(`${header}.${body}`).digest();
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) return null;
    return claims;
  } catch {
    return null;
  }
}
