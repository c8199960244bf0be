import type { IdempotencyStore } from './idempotency-store.port';

interface Record {
  offset: Promise<string>;
  expiresAt: number;
}

/**
 * Memory mode: keys of this process, at most `maxKeys` of them. Keys are
 * kept per window length, where insertion order is expiry order, so
 * forgetting expired keys is a walk from the front of each (callers use a
 * few windows: the default and their own), and at the bound the key that
 * would expire soonest goes first.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly windows = new Map<number, Map<string, Record>>();
  private size = 0;

  constructor(private readonly maxKeys: number) {}

  once(key: string, windowMs: number, publish: () => Promise<string>): Promise<string> {
    const now = Date.now();
    this.forgetExpired(now);
    for (const [length, records] of this.windows) {
      const known = records.get(key);
      if (known === undefined) continue;
      if (known.expiresAt > now) return known.offset;
      this.forget(length, key);
    }
    if (this.size >= this.maxKeys) this.forgetSoonest();
    const offset = publish();
    const record: Record = { offset, expiresAt: now + windowMs };
    let records = this.windows.get(windowMs);
    if (records === undefined) this.windows.set(windowMs, (records = new Map<string, Record>()));
    records.set(key, record);
    this.size++;
    offset.catch(() => {
      if (this.windows.get(windowMs)?.get(key) === record) this.forget(windowMs, key);
    });
    return offset;
  }

  private forgetExpired(now: number): void {
    for (const [length, records] of this.windows) {
      for (const [key, record] of records) {
        if (record.expiresAt > now) break;
        this.forget(length, key);
      }
    }
  }

  private forgetSoonest(): void {
    let soonest: { length: number; key: string; expiresAt: number } | undefined;
    for (const [length, records] of this.windows) {
      const [first] = records;
      if (first && (soonest === undefined || first[1].expiresAt < soonest.expiresAt)) {
        soonest = { length, key: first[0], expiresAt: first[1].expiresAt };
      }
    }
    if (soonest) this.forget(soonest.length, soonest.key);
  }

  private forget(length: number, key: string): void {
    const records = this.windows.get(length);
    if (!records?.delete(key)) return;
    this.size--;
    if (records.size === 0) this.windows.delete(length);
  }
}
