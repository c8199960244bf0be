import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { USER_ID_PATTERN } from '../protocol';
import { HmacTokenVerifier } from './hmac-token.verifier';
import { JwksClient } from './jwks-client';
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
 * A token naming a key the identity provider's key set is being fetched for
 * (`jwt.jwksUrl`): refused for now, worth a retry in a moment.
 */
export class TokenKeyPendingError extends TokenRejectedError {
  constructor() {
    super('token key not loaded yet');
  }
}

/**
 * Verifies bearer tokens with the configured keys and algorithms only, and
 * holds the claim rules (PROTOCOL.md §1): the handshake, `auth` and the app's
 * own HTTP guards accept exactly the same tokens.
 *
 * @publicApi
 */
@Injectable()
export class TokenService implements OnModuleInit, OnModuleDestroy {
  /**
   * Public-key tokens: a JwtService of our own per key, with the key and the
   * verify options as its module options: passing them per call makes
   * @nestjs/jwt `delete` from and copy the options object on every verify
   * (~7 µs per handshake). Built again when the key set (`jwt.jwksUrl`) changes.
   */
  private jwt: TokenKeyRing<JwtService> | undefined;
  /** The configured public keys, as `jwt` holds them; the key set's keys go before them. */
  private readonly configured: Array<{ kid?: string; key: JwtService }> = [];
  private readonly jwks: JwksClient | undefined;
  /** HS* tokens: the checks jsonwebtoken applies, in one synchronous pass (hmac-token.verifier.ts). */
  private readonly hmac: HmacTokenVerifier | undefined;
  private readonly toleranceMs: number;
  /** A service's tokens share one header: most handshakes compare it instead of decoding it again. */
  private readonly kidOf = rememberingLast(decodeKid);
  private readonly verifierOf: (key: KeyObject) => JwtService;

  constructor(@Inject(REALTIME_OPTIONS) options: ResolvedRealtimeOptions) {
    const { jwt } = options;
    const { publicKey, secret, algorithms, issuer, audience, clockToleranceSec } = jwt;
    const verifyOptions = { algorithms, issuer, audience, clockTolerance: clockToleranceSec };
    // jsonwebtoken takes the KeyObject that @nestjs/jwt types as string | Buffer.
    this.verifierOf = (key) =>
      new JwtService({ publicKey: key as unknown as Buffer, verifyOptions });
    // Validation keeps HS* apart from public-key algorithms, and gives each key what they need.
    const hmac = algorithms.every((algorithm) => algorithm.startsWith('HS'));
    // KeyObjects, built once: given a string, jsonwebtoken parses it as a public key and falls
    // back to a secret on every verify, which cost ~1 ms per handshake (docs/benchmarks.md).
    const keyObject = (key: { secret?: string; publicKey?: string }) =>
      hmac ? createSecretKey(Buffer.from(key.secret ?? '')) : createPublicKey(key.publicKey ?? '');
    const ring: Array<{ kid?: string; key: KeyObject }> = [];
    if ((hmac ? secret : publicKey) !== undefined) ring.push({ key: keyObject(jwt) });
    for (const key of jwt.keys) ring.push({ kid: key.kid, key: keyObject(key) });
    if (hmac) {
      const options = { algorithms, issuer, audience, clockToleranceSec };
      this.hmac = new HmacTokenVerifier(new TokenKeyRing(ring), options);
    } else {
      for (const { kid, key } of ring) this.configured.push({ kid, key: this.verifierOf(key) });
      this.jwt = new TokenKeyRing(this.configured);
    }
    if (jwt.jwksUrl) {
      const { jwksUrl: url, jwksRefreshMs: refreshMs, jwksCooldownMs: cooldownMs } = jwt;
      this.jwks = new JwksClient({ url, refreshMs, cooldownMs }, (keys) => this.useKeySet(keys));
    }
    this.toleranceMs = clockToleranceSec * 1000;
  }

  /** With `jwt.jwksUrl`: the key set's first fetch (the app starts even when it fails). */
  async onModuleInit(): Promise<void> {
    await this.jwks?.start();
  }

  onModuleDestroy(): void {
    this.jwks?.stop();
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
    const kid = this.kidOf(token.slice(0, token.indexOf('.')));
    const verifiers = this.jwt?.candidates(kid) ?? [];
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
    // Refused, naming a key none of ours has: maybe the provider has rotated.
    if (this.jwks && typeof kid === 'string' && !this.jwt?.names(kid) && this.jwks.unknownKid()) {
      throw new TokenKeyPendingError();
    }
    throw new TokenRejectedError('invalid token');
  }

  private useKeySet(keys: ReadonlyMap<string, KeyObject>): void {
    const fetched = [...keys].map(([kid, key]) => ({ kid, key: this.verifierOf(key) }));
    // The configured keys last: a kid of theirs is not taken over by the key set.
    this.jwt = new TokenKeyRing([...fetched, ...this.configured]);
  }
}

/** The `kid` of a token's header segment, undefined when it has none or is no JSON. */
function decodeKid(segment: string): unknown {
  try {
    return (JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as { kid?: unknown })
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
