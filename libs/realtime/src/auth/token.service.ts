import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { REALTIME_OPTIONS } from '../realtime.constants';
import type { Principal } from './principal';

const MAX_SUB_LENGTH = 256;
const MAX_ROLES = 64;
const NO_ROLES: readonly string[] = Object.freeze([]);

/** Why a token was refused; the text is safe to show the client. */
export class TokenRejectedError extends Error {}

/** Verifies bearer tokens with the configured keys and algorithms only. */
@Injectable()
export class TokenService {
  /**
   * Built once: given a string, jsonwebtoken first tries to parse it as a
   * public key and falls back to a secret on every verify, which cost ~1 ms per
   * handshake (docs/benchmarks.md). @nestjs/jwt types the option as
   * string | Buffer, but passes it to jsonwebtoken, which takes a KeyObject.
   */
  private readonly key: KeyObject;

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly jwt: JwtService,
  ) {
    const { publicKey, secret } = options.jwt;
    this.key = publicKey ? createPublicKey(publicKey) : createSecretKey(Buffer.from(secret ?? ''));
  }

  verify(token: string): Principal {
    const { jwt } = this.options;
    let claims: Record<string, unknown>;
    try {
      claims = this.jwt.verify(token, {
        publicKey: this.key as unknown as Buffer,
        algorithms: jwt.algorithms,
        issuer: jwt.issuer,
        audience: jwt.audience,
        clockTolerance: jwt.clockToleranceSec,
      });
    } catch (error) {
      const expired = (error as Error)?.name === 'TokenExpiredError';
      throw new TokenRejectedError(expired ? 'token expired' : 'invalid token');
    }
    return principalFromClaims(claims);
  }
}

function principalFromClaims(claims: Record<string, unknown>): Principal {
  const { sub, exp, iat, jti, roles } = claims;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUB_LENGTH) {
    throw new TokenRejectedError('token has no valid sub');
  }
  if (typeof exp !== 'number' || !Number.isFinite(exp))
    throw new TokenRejectedError('token has no exp');
  if (roles !== undefined && !isStringList(roles))
    throw new TokenRejectedError('token roles are invalid');
  if (jti !== undefined && typeof jti !== 'string')
    throw new TokenRejectedError('token jti is invalid');
  return {
    userId: sub,
    roles: roles === undefined || roles.length === 0 ? NO_ROLES : Object.freeze([...roles]),
    tokenId: jti,
    expiresAt: exp * 1000,
    issuedAt: typeof iat === 'number' ? iat * 1000 : undefined,
  };
}

function isStringList(value: unknown): value is string[] {
  return (
    Array.isArray(value) && value.length <= MAX_ROLES && value.every((v) => typeof v === 'string')
  );
}
