import fc from 'fast-check';
import { INVALID_FRAME_EVENT } from '../protocol';
import { parseFrame } from './frame-parser';

const text = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('parseFrame', () => {
  it('passes a valid frame through', () => {
    expect(parseFrame(text({ event: 'ping', data: { ref: 'a' } }), false)).toEqual({
      event: 'ping',
      data: { ref: 'a' },
    });
  });

  it('refuses a frame without data (every frame is {event, data: object})', () => {
    expect(parseFrame(text({ event: 'ping' }), false)).toEqual({
      event: INVALID_FRAME_EVENT,
      data: { code: 'BAD_REQUEST', message: 'data must be an object', ref: undefined },
    });
  });

  it.each([
    ['binary', Buffer.from([1, 2, 3]), true, 'BAD_REQUEST', undefined],
    ['not JSON', text('not json'), false, 'BAD_REQUEST', undefined],
    ['an array', text(['ping', {}]), false, 'BAD_REQUEST', undefined],
    ['a string', text('"ping"'), false, 'BAD_REQUEST', undefined],
    ['event not a string', text({ event: 1, data: { ref: 'r' } }), false, 'BAD_REQUEST', 'r'],
    ['data not an object', text({ event: 'ping', data: [1] }), false, 'BAD_REQUEST', undefined],
    [
      'extra top-level keys',
      text({ event: 'ping', data: { ref: 'r' }, x: 1 }),
      false,
      'BAD_REQUEST',
      'r',
    ],
    [
      '__proto__ key',
      text('{"event":"ping","data":{"__proto__":{"polluted":1}}}'),
      false,
      'BAD_REQUEST',
      undefined,
    ],
    [
      '__proto__ key, echoing a valid ref',
      text('{"event":"ping","data":{"ref":"p","__proto__":{}}}'),
      false,
      'BAD_REQUEST',
      'p',
    ],
    ['data null', text({ event: 'ping', data: null }), false, 'BAD_REQUEST', undefined],
    ['unknown event', text({ event: 'nope', data: { ref: 'r' } }), false, 'UNKNOWN_EVENT', 'r'],
    [
      'a ref too long',
      text({ event: 'nope', data: { ref: 'r'.repeat(65) } }),
      false,
      'UNKNOWN_EVENT',
      undefined,
    ],
  ])('refuses %s', (_name, raw, isBinary, code, ref) => {
    expect(parseFrame(raw, isBinary)).toEqual({
      event: INVALID_FRAME_EVENT,
      data: { code, message: expect.any(String), ref },
    });
  });

  it('refuses deep nesting without overflowing the stack', () => {
    const deep = `{"event":"publish","data":{"payload":${'['.repeat(50_000)}${']'.repeat(50_000)}}}`;
    expect(parseFrame(Buffer.from(deep), false)).toMatchObject({
      event: INVALID_FRAME_EVENT,
      data: { code: 'BAD_REQUEST' },
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses 500,000 `[` before parsing, at a cost that does not grow with the depth', () => {
    const time = (depth: number) => {
      const frame = Buffer.from(`{"event":"ping","data":{"x":${'['.repeat(depth)}`);
      const started = process.hrtime.bigint();
      const parsed = parseFrame(frame, false);
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      expect(parsed).toMatchObject({ data: { code: 'BAD_REQUEST', message: /nested too deeply/ } });
      return elapsedMs;
    };
    time(100); // warm-up
    expect(time(500_000)).toBeLessThan(5);
  });

  it('counts brackets inside strings as text', () => {
    const ref = '['.repeat(60);
    const frame = Buffer.from(
      `{"event":"ping","data":{"ref":"${ref}","x":[[["\\"${'['.repeat(200)}"]]]}}`,
    );
    expect(parseFrame(frame, false)).toMatchObject({ event: 'ping', data: { ref } });
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, isBinary) => {
        const frame = parseFrame(Buffer.from(bytes), isBinary);
        expect(typeof frame.event).toBe('string');
      }),
      { numRuns: 3_000 },
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        expect(() => parseFrame(text(value), false)).not.toThrow();
      }),
      { numRuns: 3_000 },
    );
  });
});
