import fc from 'fast-check';
import {
  claimsAccepted,
  claimsArbitrary,
  CLAIMS_TOLERANCE_SEC,
  hs256,
} from '../../../../test/support/token-claims';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { TokenRejectedError, TokenService } from './token.service';

const SECRET = 'token-claims-property-secret-0123456789-abcdef';
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
/**
 * Token claims of every type and size (docs/security.md, Claims): the
 * service accepts exactly the tokens the rules accept, turns them into the
 * principal the claims say, and refuses the others with TokenRejectedError
 * and one of the contract's messages, never anything else.
 */
describe('token claims, whatever they hold', () => {
  const tokens = new TokenService(
    resolveRealtimeOptions({ jwt: { secret: SECRET, clockToleranceSec: CLAIMS_TOLERANCE_SEC } }),
  );

  it('accepts exactly the claims the rules accept, as the principal they describe', () => {
    const claims = claimsArbitrary(Math.floor(Date.now() / 1000));
    fc.assert(
      fc.property(claims, (given) => {
        const token = hs256(given, SECRET);
        const now = Date.now();
        let outcome: Record<string, unknown>;
        try {
          // What the Principal interface says, whatever object carries it.
          const { userId, roles, tokenId, expiresAt, issuedAt } = tokens.verify(token);
          outcome = { accepted: true, principal: { userId, roles, tokenId, expiresAt, issuedAt } };
        } catch (error) {
          expect(error).toBeInstanceOf(TokenRejectedError);
          expect(REFUSALS.has((error as Error).message)).toBe(true);
          outcome = { accepted: false };
        }
        // JSON drops what it cannot say (undefined, -0 as 0): the rules read what was signed.
        const signed = JSON.parse(JSON.stringify(given)) as Record<string, unknown>;
        fc.pre(claimsAccepted(signed, now) === claimsAccepted(signed, Date.now()));
        if (!claimsAccepted(signed, now)) {
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
