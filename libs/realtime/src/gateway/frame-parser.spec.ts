import fc from 'fast-check';
import { encodeMessage } from '../framing/message-frame';
import { SerializedJson } from '../framing/serialized-json';
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

  it('refuses 500,000 `[` before parsing, in one pass over the bytes', () => {
    const frame = Buffer.from(`{"event":"ping","data":{"x":${'['.repeat(500_000)}`);
    expect(parseFrame(frame, false)).toEqual({
      event: INVALID_FRAME_EVENT,
      data: { code: 'BAD_REQUEST', message: 'data is nested too deeply', ref: undefined },
    });
  });

  it.each([
    ['before', '{"event":"ping","data":{"ref":"deep-1","x":DEEP}}'],
    ['after', '{"event":"ping","data":{"x":DEEP,"ref":"deep-1"}}'],
    ['escaped, after', '{"event":"ping","data":{"x":DEEP, "r\\u0065f" : "deep-\\u0031"}}'],
  ])('echoes a valid data.ref found %s a part too deep to parse', (_where, template) => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    expect(parseFrame(text(template.replace('DEEP', deep)), false)).toEqual({
      event: INVALID_FRAME_EVENT,
      data: { code: 'BAD_REQUEST', message: 'data is nested too deeply', ref: 'deep-1' },
    });
  });

  it('takes data.ref as JSON.parse does: the last one, of the last data, and only a string', () => {
    const refOfDeep = (data: string) => {
      const frame = parseFrame(text(`{"event":"ping","data":${data}}`), false);
      return frame.event === INVALID_FRAME_EVENT ? frame.data.ref : 'parsed';
    };
    const deep = '['.repeat(20) + ']'.repeat(20);
    expect(refOfDeep(`{"ref":"a","ref":"b","x":${deep}}`)).toBe('b');
    expect(refOfDeep(`{"ref":"a","ref":7,"x":${deep}}`)).toBeUndefined();
    expect(refOfDeep(`{"x":{"ref":"nested"},"y":${deep}}`)).toBeUndefined();
    expect(refOfDeep(`{"ref":"${'r'.repeat(65)}","x":${deep}}`)).toBeUndefined();
    const twoData = parseFrame(
      text(`{"event":"ping","data":{"ref":"old"},"data":{"x":${deep}}}`),
      false,
    );
    expect(twoData).toMatchObject({ data: { ref: undefined } });
  });

  it('refuses a wide data object before parsing it, echoing its ref', () => {
    const keys = Array.from({ length: 6_000 }, (_, i) => `"k${i}":1`).join(',');
    expect(parseFrame(text(`{"event":"ping","data":{"ref":"w",${keys}}}`), false)).toEqual({
      event: INVALID_FRAME_EVENT,
      data: { code: 'BAD_REQUEST', message: 'unknown field in data', ref: 'w' },
    });
  });

  it('refuses a field the request does not have without parsing the frame', () => {
    // Not even JSON: the field is refused before JSON.parse would have said so.
    const frame = '{"event":"ping","data":{"ref":"u","junk":{"a":[1,2,,,]}';
    expect(parseFrame(text(frame), false)).toEqual({
      event: INVALID_FRAME_EVENT,
      data: { code: 'BAD_REQUEST', message: 'unknown field in data', ref: 'u' },
    });
  });

  it('refuses any request but publish over 32 KiB without parsing it', () => {
    const big = 'x'.repeat(33 * 1024);
    for (const event of ['ping', 'auth', 'nope']) {
      const frame = `{"event":"${event}","data":{"ref":"b","token":"${big}"}}`;
      expect(parseFrame(text(frame), false)).toEqual({
        event: INVALID_FRAME_EVENT,
        data: { code: 'BAD_REQUEST', message: 'request too large', ref: 'b' },
      });
    }
    const publish = parseFrame(
      text({ event: 'publish', data: { topic: 'chat:a', type: 't', payload: big } }),
      false,
    );
    expect(publish).toMatchObject({ event: 'publish', data: { topic: 'chat:a', type: 't' } });
  });

  it('refuses __proto__ keys however they are spelled, wherever they are', () => {
    for (const key of ['__proto__', '\\u005f_proto__', '__pro\\u0074o__']) {
      const frame = `{"event":"publish","data":{"ref":"p","topic":"t","type":"x","payload":[{"a":{"${key}":{}}}]}}`;
      expect(parseFrame(text(frame), false)).toEqual({
        event: INVALID_FRAME_EVENT,
        data: { code: 'BAD_REQUEST', message: 'forbidden key in frame', ref: 'p' },
      });
    }
    // A value is not a key.
    expect(parseFrame(text('{"event":"ping","data":{"ref":"__proto__"}}'), false)).toMatchObject({
      event: 'ping',
    });
  });

  it('validates data against the event’s DTO: unknown fields first, then its rules', () => {
    expect(parseFrame(text({ event: 'ping', data: { ref: 'u', junk: { a: 1 } } }), false)).toEqual({
      event: INVALID_FRAME_EVENT,
      data: { code: 'BAD_REQUEST', message: 'unknown field in data', ref: 'u' },
    });
    expect(parseFrame(text({ event: 'subscribe', data: { ref: 's', topics: [] } }), false)).toEqual(
      {
        event: INVALID_FRAME_EVENT,
        data: { code: 'BAD_REQUEST', message: expect.stringMatching(/topics/), ref: 's' },
      },
    );
    expect(
      parseFrame(
        text({ event: 'publish', data: { topic: 'chat:a', type: 't', payload: 1 } }),
        false,
      ),
    ).toMatchObject({ event: 'publish', data: { topic: 'chat:a', type: 't' } });
  });

  it.each([
    ['an object', '{"deep":[{"kept":"as is"}]}'],
    ['a string with delimiters', '"a,}]\\" \\\\"'],
    ['a number, spaced', ' -1.5e3 '],
    ['null', 'null'],
    ['true, with newlines', '\n true\n'],
    ['an array of strings', '["}",",","]"]'],
  ])('carries a publish payload on as the bytes it arrived as: %s', (_name, raw) => {
    for (const data of [
      `{"topic":"chat:a","type":"t","payload":${raw},"ref":"r"}`,
      `{"payload":${raw},"topic":"chat:a","type":"t"}`,
      `{"topic":"chat:a","payload":"first","type":"t","payload":${raw}}`,
    ]) {
      const frame = parseFrame(text(`{"event":"publish","data":${data}}`), false);
      expect(frame.event).toBe('publish');
      const payload = (frame.data as { payload: SerializedJson }).payload;
      expect(payload).toBeInstanceOf(SerializedJson);
      expect(payload.toString()).toBe(raw.trim());
    }
  });

  it('a publish payload spliced into the message frame reads back as the value sent, whatever its JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), fc.boolean(), (payload, spaced) => {
        const data = JSON.stringify({ topic: 'chat:a', payload, type: 't' }, null, spaced ? 1 : 0);
        const frame = parseFrame(text(`{"event":"publish","data":${data}}`), false);
        if (data.includes('"__proto__":')) {
          // Refused wherever it is: such a key would become a prototype in a later copy.
          expect(frame.data).toMatchObject({ message: 'forbidden key in frame' });
          return;
        }
        const { payload: carried } = frame.data as { payload: SerializedJson };
        const message = encodeMessage({
          topic: 'chat:a',
          type: 't',
          payload: carried,
          offset: '1-1',
          ts: 5,
        });
        const read = JSON.parse(message.payload.toString()) as { data: { payload: unknown } };
        expect(read.data.payload).toEqual(JSON.parse(JSON.stringify(payload)));
      }),
      { numRuns: 1_000 },
    );
  });

  it('counts brackets inside strings as text', () => {
    const ref = '['.repeat(60);
    const frame = Buffer.from(
      `{"event":"publish","data":{"ref":"${ref}","topic":"t","type":"x","payload":[[["\\"${'['.repeat(200)}"]]]}}`,
    );
    expect(parseFrame(frame, false)).toMatchObject({ event: 'publish', data: { ref } });
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
