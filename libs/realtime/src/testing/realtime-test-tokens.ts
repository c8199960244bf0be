import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { randomBytes } from 'node:crypto';

/** What a test token carries besides its user (`sub`). */
export interface TestTokenClaims {
  roles?: string[];
  /** The token's id, which a revocation may name. */
  jti?: string;
  /** Lifetime from now; negative for a token that has expired already. Default 1 hour. */
  expiresInSec?: number;
}

/**
 * Signs the tokens that RealtimeTestingModule's TokenService accepts, for
 * tests of the app's own code that takes the library's tokens (an HTTP
 * guard, a login endpoint's check). The key is random per testing module:
 * nothing signed here is valid anywhere else.
 *
 * @publicApi
 */
@Injectable()
export class RealtimeTestTokens {
  /** The HS256 secret TokenService verifies with under RealtimeTestingModule. */
  readonly secret = randomBytes(32).toString('base64url');
  private readonly jwt = new JwtService({ secret: this.secret });

  sign(userId: string, claims: TestTokenClaims = {}): string {
    const { roles, jti, expiresInSec = 3600 } = claims;
    const exp = Math.floor(Date.now() / 1000) + expiresInSec;
    return this.jwt.sign(
      { sub: userId, exp, ...(roles && { roles }), ...(jti && { jti }) },
      { algorithm: 'HS256' },
    );
  }
}
