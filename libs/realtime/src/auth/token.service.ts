import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { USER_ID_PATTERN } from '../protocol';
import { HmacTokenVerifier } from './hmac-token.verifier';
import { type Principal, TokenPrincipal } from './principal';
import { rememberingLast } from './remembering-last';
import { TokenKeyRing } from './token-key-ring';

const MAX_ROLES = 64;
const MAX_ROLE_LENGTH = 100;
const MAX_JTI_LENGTH = 256;
const NO_ROLES: readonly string[] = Object.freeze([]);
/** Exactly `Bearer <token>`: one scheme, one credential, nothing after it. */
const BEARER = /^Bearer +([^\s]+)$/i;

/** Why a token was refused; the text is safe to show the client. */
export class TokenRejectedError extends Error {}

/**
 * Verifies bearer tokens with the configured keys and algorithms only, and
 * holds the claim rules (PROTOCOL.md §1): the handshake, `auth` and the app's
 * own HTTP guards accept exactly the same tokens.
 *
 * @publicApi
 */
@Injectable()
export class TokenService {
  /**
   * Public-key tokens: a JwtService of our own per key, with the key and the
   * verify options as its module options: passing them per call makes
   * @nestjs/jwt `delete` from and copy the options object on every verify
   * (~7 µs per handshake).
   */
  private readonly jwt: TokenKeyRing<JwtService> | undefined;
  /** HS* tokens: the checks jsonwebtoken applies, in one synchronous pass (hmac-token.verifier.ts). */
  private readonly hmac: HmacTokenVerifier | undefined;
  private readonly toleranceMs: number;
  /** A service's tokens share one header: most handshakes compare it instead of decoding it again. */
  private readonly kidOf = rememberingLast(decodeKid);

  constructor(@Inject(REALTIME_OPTIONS) options: ResolvedRealtimeOptions) {
    const { publicKey, secret, keys, algorithms, issuer, audience, clockToleranceSec } =
      options.jwt;
    const ring: Array<{ kid?: string; key: KeyObject }> = [{ key: keyObject(publicKey, secret) }];
    for (const key of keys) ring.push({ kid: key.kid, key: keyObject(key.publicKey, key.secret) });
    if (!publicKey) {
      const options = { algorithms, issuer, audience, clockToleranceSec };
      this.hmac = new HmacTokenVerifier(new TokenKeyRing(ring), options);
    } else {
      const verifyOptions = { algorithms, issuer, audience, clockTolerance: clockToleranceSec };
      this.jwt = new TokenKeyRing(
        ring.map(({ kid, key }) => ({
          kid,
          // jsonwebtoken takes the KeyObject that @nestjs/jwt types as string | Buffer.
          key: new JwtService({ publicKey: key as unknown as Buffer, verifyOptions }),
        })),
      );
    }
    this.toleranceMs = clockToleranceSec * 1000;
  }

  /** Throws TokenRejectedError for any token the contract refuses. */
  verify(token: string): Principal {
    const now = Date.now();
    return principalFromClaims(this.verifySignature(token, now), now, this.toleranceMs);
  }

  /**
   * The token of an `Authorization` header: undefined when there is none;
   * anything present but not exactly `Bearer <token>` is refused, never
   * treated as anonymous.
   */
  bearerToken(header: string | undefined): string | undefined {
    if (header === undefined) return undefined;
    const match = BEARER.exec(header);
    if (!match) throw new TokenRejectedError('malformed authorization header');
    return match[1];
  }

  private verifySignature(token: string, now: number): Record<string, unknown> {
    if (this.hmac) {
      const claims = this.hmac.verify(token, Math.floor(now / 1000));
      if (typeof claims === 'string') throw new TokenRejectedError(claims);
      return claims;
    }
    const verifiers = this.jwt?.candidates(this.kidOf(token.slice(0, token.indexOf('.')))) ?? [];
    for (const verifier of verifiers) {
      try {
        return verifier.verify(token);
      } catch (error) {
        const { name } = error as Error;
        // Expired or not yet valid: the signature matched, so no other key is tried.
        if (name === 'TokenExpiredError') throw new TokenRejectedError('token expired');
        if (name === 'NotBeforeError') break;
      }
    }
    throw new TokenRejectedError('invalid token');
  }
}

/**
 * Built once per key: given a string, jsonwebtoken first tries to parse it as
 * a public key and falls back to a secret on every verify, which cost ~1 ms
 * per handshake (docs/benchmarks.md).
 */
function keyObject(publicKey: string | undefined, secret: string | undefined): KeyObject {
  return publicKey ? createPublicKey(publicKey) : createSecretKey(Buffer.from(secret ?? ''));
}

/** The `kid` of a token's header segment, undefined when it has none or is no JSON. */
function decodeKid(segment: string): unknown {
  try {
    return (JSON.parse(Buffer.from(segment, 'base64url').toString('latin1')) as { kid?: unknown })
      ?.kid;
  } catch {
    return undefined;
  }
}

/**
 * The claim rules. `sub` must be a user id (USER_ID_PATTERN), so that
 * whatever accepts the token can also address its user (`sendToUser`).
 */
function principalFromClaims(
  claims: Record<string, unknown>,
  now: number,
  toleranceMs: number,
): Principal {
  const { sub, exp, iat, jti, roles } = claims;
  if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) {
    throw new TokenRejectedError('token has no valid sub');
  }
  if (typeof exp !== 'number' || !Number.isFinite(exp))
    throw new TokenRejectedError('token has no exp');
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat)))
    throw new TokenRejectedError('token iat is invalid');
  // A token from the future would outlive a user-wide revocation issued before it.
  if (iat !== undefined && iat * 1000 > now + toleranceMs)
    throw new TokenRejectedError('token issued in the future');
  if (roles !== undefined && !isStringList(roles))
    throw new TokenRejectedError('token roles are invalid');
  if (jti !== undefined && (typeof jti !== 'string' || jti.length > MAX_JTI_LENGTH))
    throw new TokenRejectedError('token jti is invalid');
  return new TokenPrincipal(
    sub,
    roles === undefined || roles.length === 0 ? NO_ROLES : Object.freeze([...roles]),
    jti,
    exp,
    iat,
  );
}

function isStringList(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length <= MAX_ROLES &&
    value.every((v) => typeof v === 'string' && v.length > 0 && v.length <= MAX_ROLE_LENGTH)
  );
}
