import type { Connection } from '../registry/connection';
import {
  type InboundFrame,
  InboundTurns,
  MAX_BYTES_PER_TURN,
  MAX_FRAMES_PER_TURN,
} from './inbound-turns';

function connectionNamed(name: string) {
  const socket = { paused: false, pause: jest.fn(), resume: jest.fn() };
  socket.pause.mockImplementation(() => (socket.paused = true));
  socket.resume.mockImplementation(() => (socket.paused = false));
  const connection = { name, socket, turn: 0, turnFrames: 0, turnBytes: 0, inbound: undefined };
  return connection as unknown as Connection & { name: string; socket: typeof socket };
}

const frame = (bytes: number, tag: number): InboundFrame => [Buffer.alloc(bytes, tag), false];
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('InboundTurns', () => {
  let handled: Array<[string, number]>;
  let turns: InboundTurns;

  beforeEach(() => {
    handled = [];
    turns = new InboundTurns((connection, [raw]) =>
      handled.push([(connection as unknown as { name: string }).name, raw[0]]),
    );
  });

  it('hands small frames over at once, up to the budget, then pauses the socket and goes on next turn, in order', async () => {
    const busy = connectionNamed('busy');
    const count = MAX_FRAMES_PER_TURN + 10;
    for (let i = 0; i < count; i++) turns.offer(busy, frame(10, i % 250));
    expect(handled).toHaveLength(MAX_FRAMES_PER_TURN);
    expect(busy.socket.pause).toHaveBeenCalledTimes(1);
    await nextTurn();
    expect(handled.map(([, tag]) => tag)).toEqual(Array.from({ length: count }, (_, i) => i % 250));
    expect(busy.socket.resume).toHaveBeenCalledTimes(1);
    expect(busy.inbound).toBeUndefined();
  });

  it('lets each connection one large frame per turn, and others in between', async () => {
    const [a, b] = [connectionNamed('a'), connectionNamed('b')];
    const large = MAX_BYTES_PER_TURN - 1_000;
    for (let i = 0; i < 3; i++) {
      turns.offer(a, frame(large, i));
      turns.offer(b, frame(large, i));
    }
    expect(handled).toEqual([
      ['a', 0],
      ['b', 0],
    ]);
    // A socket read in the meantime is served in this turn, whatever the others' backlog.
    const quiet = connectionNamed('quiet');
    turns.offer(quiet, frame(40, 9));
    expect(handled.at(-1)).toEqual(['quiet', 9]);
    await nextTurn();
    expect(handled.slice(3)).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    await nextTurn();
    expect(handled.slice(5)).toEqual([
      ['a', 2],
      ['b', 2],
    ]);
    expect([a, b].map((c) => c.socket.paused)).toEqual([false, false]);
  });

  it('a first frame always goes through, however large', () => {
    const big = connectionNamed('big');
    turns.offer(big, frame(MAX_BYTES_PER_TURN * 2, 1));
    expect(handled).toEqual([['big', 1]]);
    expect(big.socket.pause).not.toHaveBeenCalled();
  });
});
