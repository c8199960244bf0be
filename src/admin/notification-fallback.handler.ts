import { Injectable, Logger } from '@nestjs/common';
import type { DeadLetter, DeadLetterHandler } from '@nest-realtime/server';

/**
 * The demo's dead-letter hook: a notification nobody acknowledged in time.
 * A real app would send an email or a push notification here.
 */
@Injectable()
export class NotificationFallbackHandler implements DeadLetterHandler {
  private readonly logger = new Logger('Notifications');

  /** What it logs came from callers: quoted and escaped, so it cannot forge a log line. */
  handle(letter: DeadLetter): void {
    const [userId, type] = [JSON.stringify(letter.userId), JSON.stringify(letter.type)];
    this.logger.log(`dead letter ${letter.id} (${letter.reason}) for user ${userId}: ${type}`);
  }
}
