import { Injectable } from '@nestjs/common';

/**
 * Plain counters bumped on the hot path; prom-client reads them only when
 * scraped, so a delivery costs an integer increment, not a label lookup.
 */
@Injectable()
export class RealtimeCounters {
  published = 0;
  delivered = 0;
  broadcasts = 0;
  accepted = 0;
  slowConsumers = 0;
  readonly refused = new Map<number, number>();
  readonly closed = new Map<number, number>();
  readonly errors = new Map<string, number>();

  count<K>(map: Map<K, number>, key: K): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  snapshot(): Record<string, number | Record<string, number>> {
    return {
      published: this.published,
      delivered: this.delivered,
      broadcasts: this.broadcasts,
      accepted: this.accepted,
      slowConsumers: this.slowConsumers,
      refused: Object.fromEntries(this.refused),
      closed: Object.fromEntries(this.closed),
      errors: Object.fromEntries(this.errors),
    };
  }
}
