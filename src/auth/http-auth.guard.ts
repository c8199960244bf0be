import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RevocationService, TokenRejectedError, TokenService } from '@nest-realtime/server';
import type { AuthenticatedRequest } from './authenticated-user';
import { REQUIRED_ROLE } from './roles.decorator';

/**
 * Bearer JWT for the demo's HTTP routes: the library's own token checks, so a
 * route accepts exactly the tokens (and claims) the WebSocket handshake does,
 * and honours the same revocations.
 */
@Injectable()
export class HttpAuthGuard implements CanActivate {
  constructor(
    private readonly tokens: TokenService,
    private readonly reflector: Reflector,
    private readonly revocations: RevocationService,
  ) {}

  /** `role` overrides the route's @AdminOnly() metadata (for guards that delegate here). */
  canActivate(context: ExecutionContext, role?: string): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    let principal;
    try {
      const token = this.tokens.bearerToken(request.headers.authorization);
      if (token === undefined) throw new UnauthorizedException('bearer token required');
      principal = this.tokens.verify(token);
    } catch (error) {
      if (error instanceof TokenRejectedError) throw new UnauthorizedException(error.message);
      throw error;
    }
    if (this.revocations.isRevoked(principal)) throw new UnauthorizedException('token revoked');
    const userId = principal.userId as string;
    const roles = [...principal.roles];
    request.user = { userId, roles };
    const required =
      role ??
      this.reflector.getAllAndOverride<string | undefined>(REQUIRED_ROLE, [
        context.getHandler(),
        context.getClass(),
      ]);
    if (required && !roles.includes(required)) {
      throw new ForbiddenException(`role ${required} required`);
    }
    return true;
  }
}
