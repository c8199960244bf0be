import * as ws from 'ws';
import { ServerEvent } from '../protocol';
import { encodeMessage, encodeSerializedMessage } from './message-frame';
import { SerializedJson } from './serialized-json';
import { encodeFrame } from './outbound-frame';

/** ws's own framing, the reference: a server text frame, unmasked. */
const { Sender } = ws as unknown as {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
};
function wsFrame(text: string): Buffer {
  const options = { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false };
  return Buffer.concat(Sender.frame(Buffer.from(text), options));
}

describe('encodeFrame', () => {
  it.each([0, 1, 50, 125, 126, 1_000, 65_535, 65_536, 300_000])(
    'frames a payload of about %i bytes exactly as ws does',
    (size) => {
      const text = 'é'.repeat(size / 2) + 'x'.repeat(size % 2);
      const frame = encodeFrame(ServerEvent.Message, { payload: text });
      const json = JSON.stringify({ event: 'message', data: { payload: text } });
      expect(frame.payload.toString()).toBe(json);
      expect(frame.bytes.equals(wsFrame(json))).toBe(true);
    },
  );

  it('frames exact header boundaries (125, 126, 65535, 65536 bytes of text)', () => {
    const overhead = JSON.stringify({ event: 'pong', data: '' }).length;
    for (const length of [125, 126, 65_535, 65_536]) {
      const frame = encodeFrame(ServerEvent.Pong, 'x'.repeat(length - overhead));
      expect(frame.payload.length).toBe(length);
      expect(frame.bytes.equals(wsFrame(frame.payload.toString()))).toBe(true);
    }
  });
});

describe('encodeMessage', () => {
  it('writes the fields in protocol order, a missing payload as null, on a buffer of its own', () => {
    const frame = encodeMessage({
      topic: 't',
      type: 'x',
      payload: undefined,
      offset: '1-1',
      ts: 5,
    });
    expect(frame.payload.toString()).toBe(
      '{"event":"message","data":{"topic":"t","type":"x","payload":null,"offset":"1-1","ts":5}}',
    );
    // Not a slice of Node's shared pool: retaining it in history keeps only its own bytes alive.
    expect(frame.bytes.buffer.byteLength).toBe(frame.bytes.length);
  });
});

describe('encodeSerializedMessage', () => {
  it.each([
    ['plain', { a: 1 }],
    ['"quoted" \\ é \u2028', ['x', null, 1.5e300, { '"': '\\' }]],
    ['t', null],
  ])(
    'splices JSON type %j and payload into the same bytes encodeMessage builds',
    (type, payload) => {
      const fields = { topic: 'chat:a', type, payload, offset: '17-3', ts: 1_700_000_000_000 };
      const spliced = encodeSerializedMessage(
        fields.topic,
        JSON.stringify(type),
        JSON.stringify(payload),
        fields.offset,
        fields.ts,
      );
      expect(spliced.bytes.equals(encodeMessage(fields).bytes)).toBe(true);
    },
  );
});

describe('encodeMessage with a SerializedJson payload', () => {
  it('splices the bytes in: the same frame as serializing the value, offset and id in place', () => {
    const payload = { a: [1, 'é', null] };
    for (const extra of [{ offset: '9-9' }, { id: 'm1' }, {}]) {
      const fields = { topic: '$user', type: 'n', ts: 7, ...extra };
      const spliced = encodeMessage({
        ...fields,
        payload: new SerializedJson(Buffer.from(JSON.stringify(payload))),
      });
      expect(spliced.bytes.equals(encodeMessage({ ...fields, payload }).bytes)).toBe(true);
    }
  });
});
