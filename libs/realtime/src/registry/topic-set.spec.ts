import fc from 'fast-check';
import { TopicSet } from './topic-set';

describe('TopicSet', () => {
  it('answers as a Set of the same topics would, whatever the adds and deletes', () => {
    const operation = fc.tuple(fc.boolean(), fc.constantFrom('a', 'b', 'c', 'd'));
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 40 }), (operations) => {
        const topics = new TopicSet();
        const model = new Set<string>();
        for (const [adding, topic] of operations) {
          if (adding) {
            expect(topics.add(topic)).toBe(!model.has(topic));
            model.add(topic);
          } else {
            expect(topics.delete(topic)).toBe(model.has(topic));
            model.delete(topic);
          }
          expect(topics.size).toBe(model.size);
          expect([...topics].sort()).toEqual([...model].sort());
          for (const name of ['a', 'b', 'c', 'd']) expect(topics.has(name)).toBe(model.has(name));
        }
      }),
    );
  });

  it('keeps the order topics were added in, as a Set does', () => {
    const topics = new TopicSet();
    for (const topic of ['x', 'y', 'z']) topics.add(topic);
    topics.delete('x');
    topics.add('w');
    expect([...topics]).toEqual(['y', 'z', 'w']);
  });
});
