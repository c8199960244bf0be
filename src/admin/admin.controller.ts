import { BadRequestException, Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import {
  BroadcastService,
  RealtimeJobs,
  RevocationService,
  type JobRuns,
  type QueueCounts,
  type RealtimeStats,
} from '@app/realtime';
import { AdminOnly } from '../auth/roles.decorator';
import { BroadcastDto, RevokeDto } from './admin.dto';
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

  /**
   * `jobs.queues`: the library's queues, cluster-wide (Redis mode; `null`
   * while Redis does not answer); `jobs.completed`/`failedAttempts`: the jobs
   * this instance ran.
   */
  @Get('ws/stats')
  async stats(): Promise<RealtimeStats & { jobs: JobsStats }> {
    const queues = await this.jobs.counts().catch(() => null);
    return { ...(await this.realtime.detailedStats()), jobs: { queues, ...this.jobs.runs() } };
  }
}
