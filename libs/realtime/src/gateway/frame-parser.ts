import { SerializedJson } from '../framing/serialized-json';
import { ClientEvent, ErrorCode, INVALID_FRAME_EVENT, refOf } from '../protocol';
import { type FrameScan, scanFrame } from './frame-scan';
import { fieldsOf, UNKNOWN_FIELD, validateRequest } from './request-validation';

/** What the gateway's handlers receive: a validated request, or the reason a frame was refused. */
export type ParsedFrame =
  { event: ClientEvent; data: object } | { event: typeof INVALID_FRAME_EVENT; data: InvalidFrame };

export interface InvalidFrame {
  code: ErrorCode;
  message: string;
  ref?: string;
}

const CLIENT_EVENTS: ReadonlySet<string> = new Set(Object.values(ClientEvent));
/**
 * Every request but `publish` fits in this many bytes (a subscribe of 50
 * topics with `since`, an `auth` token of 8 KiB); only a publish's payload
 * may take the rest of `limits.maxMessageBytes`.
 */
const MAX_REQUEST_BYTES = 32 * 1024;

/**
 * Turns a raw frame into a validated request, at a cost near JSON.parse's:
 * one pass over the bytes (frame-scan.ts), which refuses what it can
 * unparsed (too deep, `__proto__`, too many fields, a field the request does
 * not have, a request other than `publish` over MAX_REQUEST_BYTES); then
 * JSON.parse without a reviver (V8 parses any nesting iteratively), the
 * envelope, and the event's DTO on the top level of `data` only
 * (request-validation.ts). Nothing walks a `payload`: a publish carries it
 * on as the bytes it arrived as (SerializedJson). Nothing a client sends
 * makes it throw: every refusal becomes an INVALID_FRAME_EVENT frame,
 * answered with the contract's error code and the frame's ref (WsAdapter
 * would drop it silently).
 */
export function parseFrame(raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ParsedFrame {
  if (isBinary) return invalid(ErrorCode.BadRequest, 'binary frames are not accepted');
  const bytes = toBuffer(raw);
  const scan = scanFrame(bytes);
  const unread = refusedUnread(scan, bytes.length);
  if (unread) return invalid(ErrorCode.BadRequest, unread, scan.ref);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return invalid(ErrorCode.BadRequest, 'frame is not valid JSON');
  }
  if (!isPlainObject(value)) return invalid(ErrorCode.BadRequest, 'frame must be a JSON object');
  const data = value.data;
  const ref = refOf(data);
  if (typeof value.event !== 'string') {
    return invalid(ErrorCode.BadRequest, 'event must be a string', ref);
  }
  if (!CLIENT_EVENTS.has(value.event)) return invalid(ErrorCode.UnknownEvent, 'unknown event', ref);
  if (!isPlainObject(data)) return invalid(ErrorCode.BadRequest, 'data must be an object', ref);
  const event = value.event as ClientEvent;
  const request = validateRequest(event, data);
  if (typeof request === 'string') return invalid(ErrorCode.BadRequest, request, ref);
  if (event === ClientEvent.Publish && scan.payload) {
    // Checked to be JSON by the parse above; carried on as the client's own bytes.
    const [start, end] = scan.payload;
    (request as { payload: unknown }).payload = new SerializedJson(bytes.subarray(start, end));
  }
  return { event, data: request };
}

/**
 * The ref of a frame that is refused unread (over the message rate): found
 * by the byte scan, never by parsing.
 */
export function refOfUnparsed(
  raw: Buffer | ArrayBuffer | Buffer[],
  isBinary: boolean,
): string | undefined {
  return isBinary ? undefined : scanFrame(toBuffer(raw)).ref;
}

/** Why the scan alone refuses the frame: it is then never parsed. */
function refusedUnread(scan: FrameScan, size: number): string | undefined {
  if (scan.problem) return scan.problem;
  if (size > MAX_REQUEST_BYTES && scan.event !== ClientEvent.Publish) return 'request too large';
  if (scan.event === undefined || !CLIENT_EVENTS.has(scan.event)) return undefined;
  const fields = fieldsOf(scan.event as ClientEvent);
  return scan.fields.every((field) => fields.has(field)) ? undefined : UNKNOWN_FIELD;
}

function invalid(code: ErrorCode, message: string, ref?: string): ParsedFrame {
  return { event: INVALID_FRAME_EVENT, data: { code, message, ref } };
}

function toBuffer(raw: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Array.isArray(raw)) return Buffer.concat(raw);
  return Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
