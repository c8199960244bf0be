/**
 * The keys a token may be signed with (`jwt.secret` or `jwt.publicKey`, then
 * `jwt.keys`), and which of them check a given token: the one its `kid`
 * header names, alone; for any other token each key without a `kid`, in
 * order. A `kid` only chooses: every key still demands its own signature.
 */
export class TokenKeyRing<K> {
  private readonly named = new Map<string, readonly K[]>();
  private readonly unnamed: K[] = [];

  constructor(keys: ReadonlyArray<{ kid?: string; key: K }>) {
    for (const { kid, key } of keys) {
      if (kid === undefined) this.unnamed.push(key);
      else this.named.set(kid, [key]);
    }
  }

  /** Whether `kid` names a key. */
  names(kid: unknown): boolean {
    return typeof kid === 'string' && this.named.has(kid);
  }

  /** The keys to try for a token whose header carries `kid` (any JSON value, or undefined). */
  candidates(kid: unknown): readonly K[] {
    return (typeof kid === 'string' && this.named.get(kid)) || this.unnamed;
  }
}
