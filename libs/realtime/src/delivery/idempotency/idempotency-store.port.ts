/**
 * Remembers, per idempotency key, the offset of the publish it carried out,
 * so that a publisher's retries publish nothing new (PROTOCOL §5).
 */
export interface IdempotencyStore {
  /**
   * Runs `publish` for the first call with the key within `windowMs`; every
   * later or concurrent call with the key resolves to that first offset. A
   * publish that fails leaves no record: the next retry carries it out.
   */
  once(key: string, windowMs: number, publish: () => Promise<string>): Promise<string>;
}

export const IDEMPOTENCY_STORE = Symbol('IDEMPOTENCY_STORE');
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;
