import { HASH_SLOTS, hashSlot } from './hash-slot';
import { spreadPartitionTags } from './partition-tags';

describe('spreadPartitionTags', () => {
  it('puts partition p in the p-th of count equal slot ranges', () => {
    const name = (tag: string) => `rt:offline:{${tag}}`;
    const tags = spreadPartitionTags(16, name);
    tags.forEach((tag, p) => {
      expect(Math.floor((hashSlot(name(tag)) * 16) / HASH_SLOTS)).toBe(p);
    });
  });

  it('gives up with an error, not a spin, when every name hashes to one slot', () => {
    // A hash tag ahead of the partition's own: what a prefix such as `{shop}:` would do.
    expect(() => spreadPartitionTags(16, (tag) => `{shop}:rt:{${tag}}`)).toThrow(
      /no hash tag of \{shop\}:rt:\{…\} falls in slots/,
    );
  });
});
