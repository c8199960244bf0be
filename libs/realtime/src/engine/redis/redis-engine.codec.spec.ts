import { SerializedJson } from '../../framing/serialized-json';
import type { EngineCommand } from '../realtime-engine.port';
import { encodeCommand, parseCommand } from './redis-engine.codec';

describe('encodeCommand', () => {
  const payload = { text: 'one\ntwo "quoted" \u2028', list: [], nested: { n: 1.5 } };
  const user = (value: unknown): EngineCommand => ({
    kind: 'user',
    userId: 'ada',
    type: 'note',
    payload: value,
    ts: 1_700,
    id: 'm1',
  });

  it('splices a SerializedJson payload in: the command reads back as if it was stringified whole', () => {
    const spliced = encodeCommand(user(new SerializedJson(JSON.stringify(payload))));
    expect(parseCommand(spliced)).toEqual(user(payload));
  });

  it('stringifies any other command as it is, and a stray SerializedJson as its value', () => {
    expect(encodeCommand(user(payload))).toBe(JSON.stringify(user(payload)));
    const broadcast: EngineCommand = {
      kind: 'broadcast',
      type: 'b',
      payload: new SerializedJson(Buffer.from('[1,2]')),
      ts: 1,
    };
    expect(parseCommand(encodeCommand(broadcast))).toEqual({ ...broadcast, payload: [1, 2] });
  });
});
