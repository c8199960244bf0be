import { Injectable } from '@nestjs/common';
import { CloseCode } from '../protocol';

/** The close codes worth a label of their own: RFC 6455's and the protocol's (PROTOCOL §6). */
const NAMED_CLOSE_CODES: ReadonlySet<number> = new Set([
  ...Array.from({ length: 16 }, (_, n) => 1000 + n),
  ...Object.values(CloseCode),
]);

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
  /** By close code; a client's own code (3000–4999, its choice) counts as `other`. */
  readonly closed = new Map<number | 'other', number>();
  readonly errors = new Map<string, number>();

  count<K>(map: Map<K, number>, key: K): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  /** Bounded labels: a client picks its close code, and would otherwise pick label values. */
  countClose(code: number): void {
    this.count(this.closed, NAMED_CLOSE_CODES.has(code) ? code : 'other');
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
