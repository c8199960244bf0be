import { orEngineUnavailable } from '../../engine/engine-unavailable.error';
import type { RedisConnections } from '../../redis/redis-connections.service';
import type { DeadLetteredEvent } from './realtime-event';

/**
 * Where lifecycle events that exhausted their attempts are kept: the newest
 * `limit`, and a count of all of them (in Redis: cluster-wide, surviving
 * restarts).
 */
export interface EventDeadLetterStore {
  add(letter: DeadLetteredEvent, limit: number): Promise<void>;
  /** The newest first. */
  list(limit: number): Promise<DeadLetteredEvent[]>;
  /** Every event dead-lettered so far, kept or not. */
  count(): Promise<number>;
}

export class MemoryEventDeadLetterStore implements EventDeadLetterStore {
  private letters: DeadLetteredEvent[] = [];
  private total = 0;

  add(letter: DeadLetteredEvent, limit: number): Promise<void> {
    this.total++;
    this.letters.unshift(letter);
    if (this.letters.length > limit) this.letters.length = limit;
    return Promise.resolve();
  }

  list(limit: number): Promise<DeadLetteredEvent[]> {
    return Promise.resolve(this.letters.slice(0, limit));
  }

  count(): Promise<number> {
    return Promise.resolve(this.total);
  }
}

/** KEYS: list, counter. ARGV: the letter's JSON, limit. */
const ADD = `
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('INCR', KEYS[2])
`;

export class RedisEventDeadLetterStore implements EventDeadLetterStore {
  constructor(private readonly redis: RedisConnections) {}

  async add(letter: DeadLetteredEvent, limit: number): Promise<void> {
    await orEngineUnavailable(
      this.redis.command.eval(ADD, 2, ...this.keys(), JSON.stringify(letter), limit),
    );
  }

  async list(limit: number): Promise<DeadLetteredEvent[]> {
    const [list] = this.keys();
    const letters = await orEngineUnavailable(this.redis.command.lrange(list, 0, limit - 1));
    return letters.map((letter) => JSON.parse(letter) as DeadLetteredEvent);
  }

  async count(): Promise<number> {
    const [, counter] = this.keys();
    return Number((await orEngineUnavailable(this.redis.command.get(counter))) ?? 0);
  }

  private keys(): [string, string] {
    return [this.redis.key('events', 'dead'), this.redis.key('events', 'dead-count')];
  }
}
