import type Redis from 'ioredis';
import type { EngineCommand, EngineMessage, RevokeCommand } from '../realtime-engine.port';

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

function decodeData(
  topic: string,
  offset: string,
  ts: number,
  data: string | undefined,
): EngineMessage | undefined {
  if (data === undefined) return undefined;
  try {
    const [type, payload] = JSON.parse(data) as [string, unknown];
    return { topic, type, payload, offset, ts };
  } catch {
    return undefined;
  }
}

export function parseCommand(raw: string): EngineCommand | undefined {
  try {
    return JSON.parse(raw) as EngineCommand;
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
