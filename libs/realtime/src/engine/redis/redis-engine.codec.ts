import type Redis from 'ioredis';
import { encodeSerializedMessage, payloadText } from '../../framing/message-frame';
import { SerializedJson } from '../../framing/serialized-json';
import type { EngineCommand, EngineMessage, RevokeCommand } from '../realtime-engine.port';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** A history stream entry as XRANGE returns it: id `<sequence>-0`, fields `d` and `t`. */
export type StreamEntry = [id: string, fields: string[]];

/** A topic channel message, as the publish script sends it: `<offset> <ts> <JSON [type, payload]>`. */
export function decodePublished(topic: string, raw: string): EngineMessage | undefined {
  const offsetEnd = raw.indexOf(' ');
  const tsEnd = raw.indexOf(' ', offsetEnd + 1);
  if (offsetEnd === -1 || tsEnd === -1) return undefined;
  const ts = Number(raw.slice(offsetEnd + 1, tsEnd));
  return decodeData(topic, raw.slice(0, offsetEnd), ts, raw.slice(tsEnd + 1));
}

/** A history entry as the message it was published as. */
export function decodeEntry(
  topic: string,
  epoch: string,
  [id, fields]: StreamEntry,
): EngineMessage | undefined {
  const value = (name: string) => fields[fields.indexOf(name) + 1];
  const offset = `${epoch}-${id.slice(0, id.indexOf('-'))}`;
  return decodeData(topic, offset, Number(value('t')), value('d'));
}

/** `data` as the publish script stores it, `JSON [type, payload]`, framed without parsing the payload. */
function decodeData(
  topic: string,
  offset: string,
  ts: number,
  data: string | undefined,
): EngineMessage | undefined {
  const typeEnd = data === undefined ? -1 : endOfString(data, 1);
  if (data === undefined || typeEnd === -1 || data[typeEnd + 1] !== ',' || !data.endsWith(']')) {
    return undefined;
  }
  const typeJson = data.slice(1, typeEnd + 1);
  const payloadText = data.slice(typeEnd + 2, -1);
  return {
    topic,
    offset,
    ts,
    frame: encodeSerializedMessage(topic, typeJson, payloadText, offset, ts),
  };
}

/** Where the JSON string that opens at `start` closes; -1 when none does. */
function endOfString(json: string, start: number): number {
  if (json[start - 1] !== '[' || json[start] !== '"') return -1;
  for (let i = start + 1; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  return -1;
}

/**
 * A command as the command channel carries it: its JSON, with a user
 * command's SerializedJson payload spliced in as it is (a retained message's,
 * serialized once at the send). Throws what JSON.stringify throws.
 */
export function encodeCommand(command: EngineCommand): string {
  if (command.kind === 'user' && command.payload instanceof SerializedJson) {
    const { payload, ...rest } = command;
    return `${JSON.stringify(rest).slice(0, -1)},"payload":${payload.toString()}}`;
  }
  return JSON.stringify(command);
}

export function parseCommand(raw: string): EngineCommand | undefined {
  try {
    return JSON.parse(raw) as EngineCommand;
  } catch {
    return undefined;
  }
}

/** A command-channel message: one command, or the commands of one turn of one instance, in order. */
export function parseCommands(raw: string): readonly EngineCommand[] | undefined {
  try {
    const parsed = JSON.parse(raw) as EngineCommand | EngineCommand[];
    return Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    return undefined;
  }
}

/** The field a revocation is stored under: one per user, one per token. */
export function revocationField(command: RevokeCommand): string {
  return command.userId !== undefined ? `user:${command.userId}` : `token:${command.tokenId}`;
}

/** Round trip of a PING in ms, or undefined when Redis is not connected or does not answer in time. */
export async function roundTrip(redis: Redis, timeoutMs: number): Promise<number | undefined> {
  if (redis.status !== 'ready') return undefined;
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    const answered = await Promise.race([redis.ping().then(() => true), timeout]);
    return answered ? Math.round((performance.now() - started) * 1000) / 1000 : undefined;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A publish's `data` as the scripts store and send it: `JSON [type, payload]`,
 * a missing payload as null, a SerializedJson one as it arrived.
 */
export function encodePublish(type: string, payload: unknown): string {
  return `[${JSON.stringify(type)},${payloadText(payload)}]`;
}
