import { type DynamicModule, Module } from '@nestjs/common';
import { ConnectionCountHandler } from './connection-count.handler';
import { LastSeenHandler } from './last-seen.handler';
import { LastSeenStore } from './last-seen.store';
import { UsersController } from './users.controller';

/** `GET /users/:id/presence`: online from the library's presence, last seen from the demo's own handler. */
@Module({})
export class UsersModule {
  static register({
    redisUrl,
    connectedHandler,
  }: {
    redisUrl: string | undefined;
    /** DEMO_CONNECTED_HANDLER: also handle `connected` (for the bench's connect-storm row). */
    connectedHandler: boolean;
  }): DynamicModule {
    return {
      module: UsersModule,
      controllers: [UsersController],
      providers: [
        { provide: LastSeenStore, useFactory: () => new LastSeenStore(redisUrl) },
        LastSeenHandler,
        ...(connectedHandler ? [ConnectionCountHandler] : []),
      ],
    };
  }
}
