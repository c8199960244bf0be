import { Body, Controller, Header, HttpCode, Post, UseGuards } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import { DevTokenDto } from './dev-token.dto';
import { HttpThrottlerGuard } from '../http-throttler.guard';
import { ValidatedBody } from '../http-validation.pipe';

const DEFAULT_TTL_SECONDS = 3600;

/** Issues development tokens. Not mounted when NODE_ENV=production. */
@ValidatedBody()
@UseGuards(HttpThrottlerGuard)
@Controller('auth')
export class DevTokenController {
  constructor(private readonly jwt: JwtService) {}

  @Post('token')
  @HttpCode(200)
  // A credential: no cache (browser, proxy) may keep it.
  @Header('Cache-Control', 'no-store')
  issue(@Body() body: DevTokenDto): { token: string } {
    const token = this.jwt.sign(
      { sub: body.userId, roles: body.roles ?? [], jti: randomUUID() },
      { algorithm: 'HS256', expiresIn: body.ttlSeconds ?? DEFAULT_TTL_SECONDS },
    );
    return { token };
  }
}
