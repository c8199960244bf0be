import { HASH_SLOTS, hashSlot } from './hash-slot';

/**
 * Hash tags for `count` partitions, partition `p` in the p-th of `count`
 * equal ranges of the slots (bare tags `0`, `1`… hash unevenly: several
 * would share a master while another idles), so any even split of the slots
 * over masters splits the partitions evenly too. `nameOf(tag)` is a name
 * carrying the tag. Deterministic: every instance computes the same tags.
 */
export function spreadPartitionTags(count: number, nameOf: (tag: string) => string): string[] {
  const tags: string[] = [];
  for (let p = 0; p < count; p++) {
    const low = Math.floor((p * HASH_SLOTS) / count);
    const high = Math.floor(((p + 1) * HASH_SLOTS) / count);
    const tag = firstTagInRange(p, low, high, nameOf);
    if (tag === undefined) {
      throw new Error(`no hash tag of ${nameOf('…')} falls in slots ${low}..${high - 1}`);
    }
    tags.push(tag);
  }
  return tags;
}

/** Tags land in a range of 1/count of the slots about once in `count` tries; far more means never. */
const MAX_TRIES_PER_RANGE = 1_000_000;

function firstTagInRange(
  p: number,
  low: number,
  high: number,
  nameOf: (tag: string) => string,
): string | undefined {
  for (let n = 0; n < MAX_TRIES_PER_RANGE; n++) {
    const slot = hashSlot(nameOf(`${p}.${n}`));
    if (slot >= low && slot < high) return `${p}.${n}`;
  }
  return undefined;
}

/** The partition of `id` among `count`: FNV-1a of the id, so every instance picks the same one. */
export function partitionOf(id: string, count: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % count;
}
