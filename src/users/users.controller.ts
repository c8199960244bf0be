import { BadRequestException, Controller, Get, Param } from '@nestjs/common';
import { PresenceService, USER_ID_PATTERN } from '@nest-realtime/server';
import { Authenticated } from '../auth/roles.decorator';
import { LastSeenStore } from './last-seen.store';

export interface UserPresence {
  userId: string;
  /** A connection open on any instance. */
  online: boolean;
  /** When the user was last seen (ms since the epoch), null before the first `user.offline`. */
  lastSeen: number | null;
}

@Controller('users')
export class UsersController {
  constructor(
    private readonly presence: PresenceService,
    private readonly lastSeen: LastSeenStore,
  ) {}

  @Get(':id/presence')
  @Authenticated()
  async get(@Param('id') userId: string): Promise<UserPresence> {
    if (!USER_ID_PATTERN.test(userId)) throw new BadRequestException('not a user id');
    const [online, lastSeen] = await Promise.all([
      this.presence.isOnline(userId),
      this.lastSeen.lastSeen(userId),
    ]);
    return { userId, online, lastSeen };
  }
}
