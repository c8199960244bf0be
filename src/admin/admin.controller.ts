import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  Post,
} from '@nestjs/common';
import {
  BroadcastService,
  OfflineInboxFullError,
  type OfflineStats,
  RealtimeEvents,
  type RealtimeEventStats,
  RealtimeJobs,
  RevocationService,
  type JobRuns,
  type QueueCounts,
  type RealtimeStats,
} from '@nest-realtime/server';
import { AdminOnly } from '../auth/roles.decorator';
import { BroadcastDto, NotifyDto, RevokeDto } from './admin.dto';

/** PROTOCOL §7: a notification is kept for an hour unless the caller says otherwise. */
const DEFAULT_NOTIFY_TTL_SECONDS = 3600;
import { ValidatedBody } from '../http-validation.pipe';

type JobsStats = JobRuns & { queues: Record<string, QueueCounts> | null };

@ValidatedBody()
@Controller()
@AdminOnly()
export class AdminController {
  constructor(
    private readonly realtime: BroadcastService,
    private readonly revocations: RevocationService,
    private readonly jobs: RealtimeJobs,
    private readonly events: RealtimeEvents,
  ) {}

  @Post('admin/broadcast')
  @HttpCode(202)
  async broadcast(@Body() body: BroadcastDto): Promise<{ ok: true }> {
    await this.realtime.broadcast('admin.broadcast', { message: body.message });
    return { ok: true };
  }

  @Post('admin/revoke')
  @HttpCode(202)
  async revoke(@Body() body: RevokeDto): Promise<{ ok: true }> {
    if (!body.jti && !body.userId) throw new BadRequestException('jti or userId is required');
    await this.revocations.revoke({ tokenId: body.jti, userId: body.userId });
    return { ok: true };
  }

  /** Kept until the user acknowledges it or the TTL passes (then dead-lettered). */
  @Post('admin/notify')
  @HttpCode(202)
  async notify(@Body() body: NotifyDto): Promise<{ id: string }> {
    try {
      const id = await this.realtime.sendToUser(
        body.userId,
        'notification',
        { message: body.message },
        { ttlSeconds: body.ttlSeconds ?? DEFAULT_NOTIFY_TTL_SECONDS },
      );
      return { id };
    } catch (error) {
      if (error instanceof OfflineInboxFullError) throw new ConflictException(error.message);
      throw error;
    }
  }

  /**
   * `jobs.queues`: the library's queues, cluster-wide (Redis mode; `null`
   * while Redis does not answer); `jobs.completed`/`failedAttempts`: the jobs
   * this instance ran. `offline`: retained messages (cluster-wide in Redis mode).
   * `events`: lifecycle events produced here, and dead-lettered (cluster-wide in Redis mode).
   */
  @Get('ws/stats')
  async stats(): Promise<
    RealtimeStats & { jobs: JobsStats; offline: OfflineStats; events: RealtimeEventStats | null }
  > {
    const [stats, queues, offline, events] = await Promise.all([
      this.realtime.detailedStats(),
      this.jobs.counts().catch(() => null),
      this.realtime.offlineStats(),
      this.events.stats().catch(() => null),
    ]);
    return { ...stats, jobs: { queues, ...this.jobs.runs() }, offline, events };
  }
}
