import { type DynamicModule, Module } from '@nestjs/common';
import { LastSeenHandler } from './last-seen.handler';
import { LastSeenStore } from './last-seen.store';
import { UsersController } from './users.controller';

/** `GET /users/:id/presence`: online from the library's presence, last seen from the demo's own handler. */
@Module({})
export class UsersModule {
  static register({ redisUrl }: { redisUrl: string | undefined }): DynamicModule {
    return {
      module: UsersModule,
      controllers: [UsersController],
      providers: [
        { provide: LastSeenStore, useFactory: () => new LastSeenStore(redisUrl) },
        LastSeenHandler,
      ],
    };
  }
}
