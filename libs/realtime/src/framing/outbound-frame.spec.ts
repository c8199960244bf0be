import * as ws from 'ws';
import { ServerEvent } from '../protocol';
import { encodeMessage } from './message-frame';
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
