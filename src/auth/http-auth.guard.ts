import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JwtService } from '@nestjs/jwt';
import { RevocationService } from '@app/realtime';
import type { AuthenticatedRequest } from './authenticated-user';
import { REQUIRED_ROLE } from './roles.decorator';

/** Bearer JWT for the demo's HTTP routes: the same tokens, and revocations, as the WebSocket. */
@Injectable()
export class HttpAuthGuard implements CanActivate {
  constructor(
    private readonly jwt: JwtService,
    private readonly reflector: Reflector,
    private readonly revocations: RevocationService,
  ) {}

  /** `role` overrides the route's @AdminOnly() metadata (for guards that delegate here). */
  canActivate(context: ExecutionContext, role?: string): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match) throw new UnauthorizedException('bearer token required');
    let claims: { sub?: unknown; exp?: unknown; iat?: unknown; jti?: unknown; roles?: unknown };
    try {
      claims = this.jwt.verify(match[1], { algorithms: ['HS256'] });
    } catch {
      throw new UnauthorizedException('invalid token');
    }
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number') {
      throw new UnauthorizedException('invalid token');
    }
    const revoked = this.revocations.isRevoked({
      userId: claims.sub,
      roles: [],
      tokenId: typeof claims.jti === 'string' ? claims.jti : undefined,
      expiresAt: claims.exp * 1000,
      issuedAt: typeof claims.iat === 'number' ? claims.iat * 1000 : undefined,
    });
    if (revoked) throw new UnauthorizedException('token revoked');
    const roles = Array.isArray(claims.roles)
      ? claims.roles.filter((r): r is string => typeof r === 'string')
      : [];
    request.user = { userId: claims.sub, roles };
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
