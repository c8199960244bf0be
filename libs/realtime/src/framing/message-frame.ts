import { type MessageFrameData, ServerEvent } from '../protocol';
import { frameParts, type OutboundFrame } from './outbound-frame';
import { SerializedJson } from './serialized-json';

/**
 * Builds the `message` frame once per message, with the fields in protocol
 * order; the same bytes go to every subscriber and into history. A missing
 * payload is `null`, as in every engine; a SerializedJson payload is spliced
 * in as it arrived. Retainable: history may keep it.
 */
export function encodeMessage(message: MessageFrameData): OutboundFrame {
  const { topic, type, payload, offset, ts, id } = message;
  if (payload instanceof SerializedJson) {
    return spliceMessage(JSON.stringify(type), payload.bytes, message);
  }
  const data = { topic, type, payload: payload ?? null, offset, ts, id };
  return frameParts([JSON.stringify({ event: ServerEvent.Message, data })], true);
}

/**
 * The same frame as `encodeMessage` for a topic message whose type and
 * payload are already JSON (as an engine stores them): spliced in, never
 * parsed, so carrying a message costs its length, not its shape.
 */
export function encodeSerializedMessage(
  topic: string,
  typeJson: string,
  payloadJson: string,
  offset: string,
  ts: number,
): OutboundFrame {
  return spliceMessage(typeJson, payloadJson, { topic, offset, ts });
}

/** JSON.stringify's output for the message, with type and payload given as JSON. */
function spliceMessage(
  typeJson: string,
  payloadJson: string | Buffer,
  { topic, offset, ts, id }: Omit<MessageFrameData, 'type' | 'payload'>,
): OutboundFrame {
  const head = `{"event":"${ServerEvent.Message}","data":{"topic":${JSON.stringify(topic)},"type":${typeJson},"payload":`;
  const tail =
    (offset === undefined ? '' : `,"offset":${JSON.stringify(offset)}`) +
    `,"ts":${JSON.stringify(ts)}` +
    (id === undefined ? '' : `,"id":${JSON.stringify(id)}`) +
    '}}';
  return frameParts([head, payloadJson, tail], true);
}
