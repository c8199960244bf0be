import { encodeFrame } from '../framing/outbound-frame';
import { type ConnectedFrameData, ServerEvent } from '../protocol';
import { welcomeFrame } from './welcome-frame';

describe('welcomeFrame', () => {
  const cases: ConnectedFrameData[] = [
    {
      connectionId: 'AbC-_0123456789xyz',
      userId: 'u1',
      heartbeatMs: 30_000,
      expiresAt: 1_900_000_000_000,
    },
    { connectionId: 'c', userId: null, heartbeatMs: 0, expiresAt: null },
    { connectionId: 'c"\\\u2028é', userId: 'a"b\\c\n€😀', heartbeatMs: 1.5, expiresAt: 1e21 },
    {
      connectionId: 'c',
      userId: 'u',
      heartbeatMs: Number.NaN,
      expiresAt: Number.POSITIVE_INFINITY,
    },
    { connectionId: 'x'.repeat(200), userId: 'u'.repeat(70_000), heartbeatMs: -0, expiresAt: 0 },
  ];

  it.each(cases)('writes the bytes of the serialized frame (%#)', (data) => {
    expect(welcomeFrame(data).bytes.equals(encodeFrame(ServerEvent.Connected, data).bytes)).toBe(
      true,
    );
  });
});
