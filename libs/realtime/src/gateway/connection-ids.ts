import { randomFillSync } from 'node:crypto';

/** 96 random bits: no id can be guessed from another one (PROTOCOL.md §1). */
const ID_BYTES = 12;
const POOL_BYTES = ID_BYTES * 256;

/**
 * Connection ids from a pool of random bytes refilled once every 256 ids, so
 * an id costs a base64url encoding, not a call into the CSPRNG per connection.
 */
export class ConnectionIds {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private offset = POOL_BYTES;

  next(): string {
    if (this.offset === POOL_BYTES) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const start = this.offset;
    this.offset += ID_BYTES;
    return this.pool.toString('base64url', start, this.offset);
  }
}
