import { hashSlot } from './hash-slot';

describe('hashSlot', () => {
  it('hashes as Redis Cluster does: the whole name, or only its non-empty hash tag', () => {
    // Values CLUSTER KEYSLOT gives on Redis 7.
    expect(hashSlot('foo')).toBe(12182);
    expect(hashSlot('{user1000}.following')).toBe(hashSlot('user1000'));
    expect(hashSlot('rt:meta:{orders}')).toBe(hashSlot('rt:history:{orders}'));
    expect(hashSlot('a{}b')).toBe(13694);
    expect(hashSlot('ü{x}')).toBe(hashSlot('x'));
  });
});
