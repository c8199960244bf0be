import { type DynamicModule, Module } from '@nestjs/common';
import { ConnectionCountHandler } from './connection-count.handler';
import { LastSeenHandler } from './last-seen.handler';
import { type LastSeenRedisOptions, LastSeenStore } from './last-seen.store';
import { UsersController } from './users.controller';

/** `GET /users/:id/presence`: online from the library's presence, last seen from the demo's own handler. */
@Module({})
export class UsersModule {
  static register({
    redis,
    connectedHandler,
  }: {
    redis: LastSeenRedisOptions | undefined;
    /** DEMO_CONNECTED_HANDLER: also handle `connected` (for the bench's connect-storm row). */
    connectedHandler: boolean;
  }): DynamicModule {
    return {
      module: UsersModule,
      controllers: [UsersController],
      providers: [
        { provide: LastSeenStore, useFactory: () => new LastSeenStore(redis) },
        LastSeenHandler,
        ...(connectedHandler ? [ConnectionCountHandler] : []),
      ],
    };
  }
}
