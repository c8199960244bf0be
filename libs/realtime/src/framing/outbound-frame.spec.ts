import * as ws from 'ws';
import { ServerEvent } from '../protocol';
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
      const frame = encodeFrame(ServerEvent.Message, {
        payload: 'é'.repeat(size / 2) + 'x'.repeat(size % 2),
      });
      expect(frame.text).toBe(
        JSON.stringify({
          event: 'message',
          data: { payload: 'é'.repeat(size / 2) + 'x'.repeat(size % 2) },
        }),
      );
      expect(frame.bytes.equals(wsFrame(frame.text))).toBe(true);
    },
  );

  it('frames exact header boundaries (125, 126, 65535, 65536 bytes of text)', () => {
    const overhead = JSON.stringify({ event: 'pong', data: '' }).length;
    for (const length of [125, 126, 65_535, 65_536]) {
      const frame = encodeFrame(ServerEvent.Pong, 'x'.repeat(length - overhead));
      expect(Buffer.byteLength(frame.text)).toBe(length);
      expect(frame.bytes.equals(wsFrame(frame.text))).toBe(true);
    }
  });
});
