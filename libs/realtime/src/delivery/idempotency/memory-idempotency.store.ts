import type { IdempotencyStore } from './idempotency-store.port';

interface Record {
  offset: Promise<string>;
  expiresAt: number;
}

/**
 * Memory mode: keys of this process, at most `maxKeys` of them. Every key has
 * the same window, so insertion order is expiry order and forgetting expired
 * keys is a walk from the front; at the bound the oldest live key goes first.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, Record>();

  constructor(private readonly maxKeys: number) {}

  once(key: string, windowMs: number, publish: () => Promise<string>): Promise<string> {
    const now = Date.now();
    this.forgetExpired(now);
    const known = this.records.get(key);
    if (known && known.expiresAt > now) return known.offset;
    this.records.delete(key);
    if (this.records.size >= this.maxKeys) {
      const [oldest] = this.records.keys();
      this.records.delete(oldest);
    }
    const offset = publish();
    const record: Record = { offset, expiresAt: now + windowMs };
    this.records.set(key, record);
    offset.catch(() => {
      if (this.records.get(key) === record) this.records.delete(key);
    });
    return offset;
  }

  private forgetExpired(now: number): void {
    for (const [key, record] of this.records) {
      if (record.expiresAt > now) return;
      this.records.delete(key);
    }
  }
}
