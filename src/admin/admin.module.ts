import { Module } from '@nestjs/common';
import { REALTIME_DEAD_LETTER_HANDLER } from '@nest-realtime/server';
import { AdminController } from './admin.controller';
import { NotificationFallbackHandler } from './notification-fallback.handler';

@Module({
  controllers: [AdminController],
  providers: [{ provide: REALTIME_DEAD_LETTER_HANDLER, useClass: NotificationFallbackHandler }],
})
export class AdminModule {}
