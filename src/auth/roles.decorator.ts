import { applyDecorators, SetMetadata, UseGuards } from '@nestjs/common';
import { HttpThrottlerGuard } from '../http-throttler.guard';
import { HttpAuthGuard } from './http-auth.guard';

export const REQUIRED_ROLE = 'demo:required-role';

/** Any signed-in user, at the HTTP rate per user. */
export const Authenticated = () => UseGuards(HttpAuthGuard, HttpThrottlerGuard);

/** Signed-in users with the admin role: 401 without a token, 403 without the role. */
export const AdminOnly = () =>
  applyDecorators(
    SetMetadata(REQUIRED_ROLE, 'admin'),
    UseGuards(HttpAuthGuard, HttpThrottlerGuard),
  );
