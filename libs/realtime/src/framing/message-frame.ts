import { ServerEvent } from '../protocol';
import { frameText, type OutboundFrame } from './outbound-frame';

/** What a `message` frame carries (PROTOCOL §3): `offset` for topic messages, `id` for retained `$user` ones. */
export interface MessageFields {
  topic: string;
  type: string;
  payload: unknown;
  offset?: string;
  ts: number;
  id?: string;
}

/**
 * Builds the `message` frame once per message, with the fields in protocol
 * order; the same bytes go to every subscriber and into history. A missing
 * payload is `null`, as in every engine. Allocated outside Node's buffer pool
 * because history may keep it.
 */
export function encodeMessage(message: MessageFields): OutboundFrame {
  const { topic, type, payload, offset, ts, id } = message;
  const data = { topic, type, payload: payload ?? null, offset, ts, id };
  return frameText(JSON.stringify({ event: ServerEvent.Message, data }), true);
}
