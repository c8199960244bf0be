import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { HttpAuthGuard } from '../auth/http-auth.guard';

export const METRICS_PUBLIC = Symbol('METRICS_PUBLIC');

/** /metrics is open to scrapers unless METRICS_PUBLIC=false, then admin only. */
@Injectable()
export class MetricsAccessGuard implements CanActivate {
  constructor(
    @Inject(METRICS_PUBLIC) private readonly isPublic: boolean,
    private readonly auth: HttpAuthGuard,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    return this.isPublic || this.auth.canActivate(context, 'admin');
  }
}
