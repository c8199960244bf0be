/** Every broken promise the ledger can find, by kind (the report counts them per kind). */
export type ViolationKind =
  | 'duplicate offset'
  | 'out of order'
  | 'gap'
  | 'not delivered by the end'
  | 'two messages at one offset'
  | 'one message at two offsets'
  | 'confirmed publish never delivered'
  | 'message outside a subscription'
  | 'inconsistent subscribed reply'
  | 'client not back by the end'
  | 'notification not settled'
  | 'notification settled twice'
  | 'notification not sent on a new connection'
  | 'offline counters disagree'
  | 'revocation not applied in time'
  | 'revoked token accepted'
  | 'unexpected close'
  | 'unexpected server error'
  | 'resource not released';

export interface Violation {
  kind: ViolationKind;
  detail: string;
}

/**
 * Collects violations: every one is counted, the first few of each kind are
 * kept with their detail for the report.
 */
export class Violations {
  private readonly counts = new Map<ViolationKind, number>();
  private readonly examples: Violation[] = [];

  constructor(private readonly examplesPerKind = 5) {}

  add(kind: ViolationKind, detail: string, count = 1): void {
    const seen = this.counts.get(kind) ?? 0;
    this.counts.set(kind, seen + count);
    if (seen < this.examplesPerKind) this.examples.push({ kind, detail });
  }

  get total(): number {
    let total = 0;
    for (const count of this.counts.values()) total += count;
    return total;
  }

  count(kind: ViolationKind): number {
    return this.counts.get(kind) ?? 0;
  }

  byKind(): Array<[ViolationKind, number]> {
    return [...this.counts];
  }

  details(): readonly Violation[] {
    return this.examples;
  }
}
