import { ErrorCode, type MessageFrameData, RealtimeException, ServerEvent } from '../protocol';
import { frameParts, type OutboundFrame } from './outbound-frame';
import { SerializedJson } from './serialized-json';

/**
 * Builds the `message` frame once per message, with the fields in protocol
 * order; the same bytes go to every subscriber and into history. A missing
 * payload is `null`, as in every engine; a SerializedJson payload is spliced
 * in as it arrived. Retainable: history may keep it.
 */
export function encodeMessage(message: MessageFrameData): OutboundFrame {
  const { type, payload } = message;
  const json = payload instanceof SerializedJson ? payload.bytes : payloadJson(payload);
  return spliceMessage(JSON.stringify(type), json, message);
}

/** A payload's JSON text: a SerializedJson one as it is, any other serialized now (payloadJson). */
export function payloadText(payload: unknown): string {
  return payload instanceof SerializedJson ? payload.toString() : payloadJson(payload);
}

/**
 * A payload as JSON text. One that JSON cannot carry is refused with a
 * message saying so (a BigInt, a cycle), not a bare TypeError; one that
 * JSON has no value for (undefined, a function) is `null`, so the frame
 * keeps its `payload` field.
 */
export function payloadJson(payload: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch (error) {
    throw new RealtimeException(
      ErrorCode.BadRequest,
      `payload is not JSON-serializable: ${(error as Error).message}`,
    );
  }
  return json ?? 'null';
}

/**
 * A payload serialized now, for a publish that reaches its engine later (an
 * idempotent one waits for its key's check first): what is sent is the
 * payload as it was at the call, whatever the caller changes meanwhile.
 */
export function serializedPayload(payload: unknown): SerializedJson {
  if (payload instanceof SerializedJson) return payload;
  return new SerializedJson(payloadJson(payload));
}

/**
 * The same frame as `encodeMessage` for a topic message whose type and
 * payload are already JSON (as an engine stores them): spliced in, never
 * parsed, so carrying a message costs its length, not its shape.
 */
export function encodeSerializedMessage(
  topic: string,
  typeJson: string,
  payload: string | Buffer,
  offset: string,
  ts: number,
): OutboundFrame {
  return spliceMessage(typeJson, payload, { topic, offset, ts });
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
