import { NotificationLedger } from './notification-ledger';
import { RevocationLedger } from './revocation-ledger';
import { TopicLedger } from './topic-ledger';
import { Violations } from './violations';

/** Close codes a client may see in a chaos run without anything being wrong (docs/client.md). */
const EXPECTED_CLOSES: ReadonlySet<number> = new Set([
  1000, // the client closed (a user leaving)
  1001, // shutdown
  1006, // the instance was killed, or the client gave up on a dead link
  1012, // restart
  4000, // heartbeat timeout (the server's, after a pause)
  4003, // revoked (checked by the revocation ledger)
  4009, // slow consumer: documented, the client recovers
]);

/** The whole ledger of a run: topic messages, notifications, revocations, and counts for the report. */
export class ChaosLedger {
  readonly violations = new Violations();
  readonly topics = new TopicLedger(this.violations);
  readonly notifications = new NotificationLedger(this.violations);
  readonly revocations = new RevocationLedger(this.violations);
  /** Close codes clients saw, and refusals by HTTP status. */
  readonly closes = new Tally<number>();
  readonly refusals = new Tally<number>();
  /** `error` frames and client-side request failures, by code. */
  readonly clientErrors = new Tally<string>();
  /** Publisher and admin HTTP calls that failed, by status (0: no answer). */
  readonly httpFailures = new Tally<string>();
  connections = 0;

  socketClosed(client: string, code: number): void {
    this.closes.add(code);
    if (!EXPECTED_CLOSES.has(code)) this.violations.add('unexpected close', `${client}: ${code}`);
  }
}

export class Tally<K> {
  private readonly counts = new Map<K, number>();

  add(key: K, count = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + count);
  }

  get(key: K): number {
    return this.counts.get(key) ?? 0;
  }

  get total(): number {
    let total = 0;
    for (const count of this.counts.values()) total += count;
    return total;
  }

  entries(): Array<[K, number]> {
    return [...this.counts].sort((a, b) => b[1] - a[1]);
  }
}
