import { Module } from '@nestjs/common';
import { WebController } from './web.controller';

/** The demo page at GET / (same origin as /ws, so the default origin allow-list admits it). */
@Module({ controllers: [WebController] })
export class WebModule {}
