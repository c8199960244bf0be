import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { JwtAlgorithm } from '../options/realtime-module-options.interface';
import { rememberingLast } from './remembering-last';
import type { TokenKeyRing } from './token-key-ring';

/** Why a token was refused; the text is the one the client sees. */
export type TokenRefusal = 'token expired' | 'invalid token';

export interface HmacVerifyOptions {
  algorithms: readonly JwtAlgorithm[];
  issuer: string | undefined;
  audience: string | undefined;
  clockToleranceSec: number;
}

const DIGESTS: ReadonlyMap<unknown, string> = new Map([
  ['HS256', 'sha256'],
  ['HS384', 'sha384'],
  ['HS512', 'sha512'],
]);
/**
 * jws's shape test: header and payload not empty, the signature may be (and
 * is then refused), the base64url alphabet only: no padding, no whitespace.
 */
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]*$/;

/**
 * The checks jsonwebtoken 9 applies for our verify options (algorithms,
 * issuer, audience, clockTolerance) with an HMAC secret, in one synchronous
 * pass over node:crypto: it accepts, refuses and calls expired exactly the
 * tokens jsonwebtoken does (hmac-token.verifier.spec.ts compares the two), at
 * a fraction of its cost per handshake. Tokens for public-key algorithms
 * never come here.
 *
 * One difference, by design: a payload that is no JSON object (which
 * jsonwebtoken returns as it is, and the claim rules then refuse) is refused
 * here as `invalid token`.
 */
export class HmacTokenVerifier {
  /** A service's tokens share one header: most handshakes compare it instead of decoding it again. */
  private readonly header = rememberingLast(decodeHeader);

  constructor(
    private readonly keys: TokenKeyRing<KeyObject>,
    private readonly options: HmacVerifyOptions,
  ) {}

  /** The claims, or why the token is refused. `nowSec`: whole seconds, as jsonwebtoken counts. */
  verify(token: string, nowSec: number): Record<string, unknown> | TokenRefusal {
    if (!COMPACT_JWS.test(token)) return 'invalid token';
    const headerEnd = token.indexOf('.');
    const payloadEnd = token.indexOf('.', headerEnd + 1);
    const header = this.header(token.slice(0, headerEnd));
    if (header === undefined) return 'invalid token';
    const { alg, typ, kid } = header;
    const digest = DIGESTS.get(alg);
    if (digest === undefined || !this.options.algorithms.includes(alg as JwtAlgorithm)) {
      return 'invalid token';
    }
    const claims = payloadOf(decode(token.slice(headerEnd + 1, payloadEnd), 'utf8'), typ);
    if (claims === undefined) return 'invalid token';
    if (
      !this.keys.candidates(kid).some((key) => signatureMatches(key, token, payloadEnd, digest))
    ) {
      return 'invalid token';
    }
    return this.claimProblem(claims, nowSec) ?? claims;
  }

  /** nbf, exp, aud and iss, in jsonwebtoken's order (an expired token with a wrong aud is expired). */
  private claimProblem(claims: Record<string, unknown>, nowSec: number): TokenRefusal | undefined {
    const { nbf, exp, aud, iss } = claims;
    const tolerance = this.options.clockToleranceSec || 0;
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSec + tolerance)) {
      return 'invalid token';
    }
    if (exp !== undefined) {
      if (typeof exp !== 'number') return 'invalid token';
      if (nowSec >= exp + tolerance) return 'token expired';
    }
    const { audience, issuer } = this.options;
    if (audience && !(Array.isArray(aud) ? aud.includes(audience) : aud === audience)) {
      return 'invalid token';
    }
    if (issuer && iss !== issuer) return 'invalid token';
    return undefined;
  }
}

/**
 * jwa compares the base64url text, not the bytes: a signature with other
 * trailing bits that decodes to the same bytes is refused there, so here.
 */
function signatureMatches(
  key: KeyObject,
  token: string,
  payloadEnd: number,
  digest: string,
): boolean {
  const expected = Buffer.from(
    createHmac(digest, key).update(token.slice(0, payloadEnd)).digest('base64url'),
    'latin1',
  );
  const given = Buffer.from(token.slice(payloadEnd + 1), 'latin1');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function decode(segment: string, encoding: 'latin1' | 'utf8'): string {
  return Buffer.from(segment, 'base64url').toString(encoding);
}

/** The decoded header, undefined when it is no JSON or a falsy one (jws refuses those). */
function decodeHeader(
  segment: string,
): { alg?: unknown; typ?: unknown; kid?: unknown } | undefined {
  // jws reads the header as latin1 (and the payload as UTF-8).
  const value = parseJson(decode(segment, 'latin1'));
  return value === NOT_JSON || !value ? undefined : value;
}

/** parseJson's answer for a text that is no JSON (no JSON text parses to a symbol). */
const NOT_JSON = Symbol('not JSON');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/**
 * The payload as jws and jsonwebtoken decode it: JSON, and with `typ: 'JWT'`
 * a JSON string in it is parsed once more. Undefined unless the result is a
 * JSON object.
 */
function payloadOf(text: string, typ: unknown): Record<string, unknown> | undefined {
  let payload = parseJson(text);
  if (typ === 'JWT' && typeof payload === 'string') payload = parseJson(payload);
  return isJsonObject(payload) ? payload : undefined;
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
