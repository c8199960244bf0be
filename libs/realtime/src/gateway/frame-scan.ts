import { MAX_REF_LENGTH } from '../protocol';
import { UNKNOWN_FIELD } from './request-validation';

/** What one pass over a frame's bytes found, before anything parses them. */
export interface FrameScan {
  /** Why the frame is refused without being parsed; undefined when it may be parsed. */
  problem: string | undefined;
  /** The frame's `data.ref`, when it is a string the reply may echo (PROTOCOL §2). */
  ref: string | undefined;
  /** The frame's `event`, when it is a string. */
  event: string | undefined;
  /** The names of `data`'s fields (a name too long for any field as `LONG_NAME`). */
  fields: string[];
  /** Where `data.payload`'s value lies in the bytes, [start, end); undefined without one. */
  payload: [start: number, end: number] | undefined;
}

/** Stands for a field name longer than any request field's. */
const LONG_NAME = '…';
/** Longer than any request field's name, however escaped. */
const MAX_FIELD_NAME_BYTES = 64;

/** `{event, data}` and 16 levels inside `data`: requests are shallow, deeper is garbage or an attack. */
const MAX_FRAME_DEPTH = 17;
/** No request has more fields (`publish`: topic, type, payload, ref). */
const MAX_DATA_FIELDS = 8;

const TOO_DEEP = 'data is nested too deeply';
const FORBIDDEN_KEY = 'forbidden key in frame';
const NOT_AN_ENVELOPE = 'frame may only hold event and data';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const SPACE = 0x20;
const DATA = Buffer.from('data');
const EVENT = Buffer.from('event');
const REF = Buffer.from('ref');
const PAYLOAD = Buffer.from('payload');
const PROTO = Buffer.from('__proto__');
/** A key whose escapes could spell one of the names above is at most this long (`\uXXXX` each). */
const MAX_ESCAPED_NAME = PROTO.length * 6;

/** The values the scan keeps the position of. */
const NONE = 0;
const EVENT_VALUE = 1;
const REF_VALUE = 2;
const PAYLOAD_VALUE = 3;

/** Which open containers are objects, by depth; reused, since scans never overlap. */
const isObjectAt = new Uint8Array(MAX_FRAME_DEPTH + 1);

/**
 * One pass over a text frame's bytes, outside strings tracking only
 * brackets, commas and keys: refuses nesting past MAX_FRAME_DEPTH, an
 * envelope with more than `event` and `data`, `data` with more than
 * MAX_DATA_FIELDS fields, and `__proto__` keys anywhere, all before
 * JSON.parse, so a refused frame costs this pass and no more. It also finds
 * `data.ref` (the last one, as JSON.parse keeps the last), so a refusal can
 * echo it without the frame being parsed (a frame too deep to parse, one
 * over the message rate), and `event` and the names of `data`'s fields, so
 * that a frame with a field its request does not have is refused unparsed
 * too (frame-parser.ts). Past the depth limit the scan ends as soon as the
 * ref is known. Malformed JSON is left to JSON.parse.
 */
export function scanFrame(bytes: Buffer): FrameScan {
  let problem: string | undefined;
  let depth = 0;
  let expectKey = false;
  let envelopeKeys = 0;
  let dataKeys = 0;
  let inData = false;
  const fields: string[] = [];
  // The value whose position matters next (after `"event":`, `"ref":` or `"payload":`), if any.
  let next = NONE;
  let [eventStart, eventEnd, eventEscaped] = [-1, -1, false];
  let [refStart, refEnd] = [-1, -1];
  // `data.payload`'s value is open from its first byte until `,` or `}` back at data's depth.
  let [payloadStart, payloadEnd, payloadOpen] = [-1, -1, false];
  const length = bytes.length;
  for (let i = 0; i < length; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      for (i++; i < length; i++) {
        const d = bytes[i];
        if (d === BACKSLASH) {
          escaped = true;
          i++;
        } else if (d === QUOTE) {
          break;
        }
      }
      if (expectKey) {
        expectKey = false;
        next = NONE;
        if (depth === 1) {
          envelopeKeys++;
          inData = isName(bytes, start, i, escaped, DATA);
          if (inData) {
            [refStart, payloadEnd] = [-1, -1];
            fields.length = 0;
          } else if (isName(bytes, start, i, escaped, EVENT)) {
            [next, eventStart] = [EVENT_VALUE, -1];
          }
        } else if (depth === 2 && inData) {
          dataKeys++;
          if (fields.length <= MAX_DATA_FIELDS) fields.push(nameOf(bytes, start, i, escaped));
          if (isName(bytes, start, i, escaped, REF)) [next, refStart] = [REF_VALUE, -1];
          else if (isName(bytes, start, i, escaped, PAYLOAD))
            [next, payloadEnd] = [PAYLOAD_VALUE, -1];
        } else if (depth === 2) {
          dataKeys++;
        }
        if (problem === undefined && isName(bytes, start, i, escaped, PROTO)) {
          problem = FORBIDDEN_KEY;
        }
        continue;
      }
      if (next === EVENT_VALUE) [eventStart, eventEnd, eventEscaped] = [start, i, escaped];
      else if (next === REF_VALUE) [refStart, refEnd] = [start, i];
      else if (next === PAYLOAD_VALUE) [payloadStart, payloadOpen] = [start, true];
      next = NONE;
      continue;
    }
    if (next !== NONE && c > SPACE && c !== COLON) {
      // A value that is no string: only a payload may be one.
      if (next === PAYLOAD_VALUE) [payloadStart, payloadOpen] = [i, true];
      next = NONE;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > MAX_FRAME_DEPTH) {
        problem ??= TOO_DEEP;
        // What lies deeper is never parsed; read on only to find a ref that comes later.
        if (refStart !== -1) break;
        expectKey = false;
      } else {
        isObjectAt[depth] = c === OPEN_BRACE ? 1 : 0;
        expectKey = c === OPEN_BRACE;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET || c === COMMA) {
      if (payloadOpen && depth === 2) [payloadEnd, payloadOpen] = [i, false];
      if (c === COMMA) {
        expectKey = depth >= 1 && depth <= MAX_FRAME_DEPTH && isObjectAt[depth] === 1;
      } else {
        expectKey = false;
        depth--;
      }
    }
  }
  if (problem === undefined && envelopeKeys > 2) problem = NOT_AN_ENVELOPE;
  if (problem === undefined && dataKeys > MAX_DATA_FIELDS) problem = UNKNOWN_FIELD;
  return {
    problem,
    ref: refStart === -1 ? undefined : decodeRef(bytes, refStart, refEnd),
    event: eventStart === -1 ? undefined : nameOf(bytes, eventStart, eventEnd, eventEscaped),
    fields,
    payload:
      payloadEnd === -1 ? undefined : [payloadStart, trimEnd(bytes, payloadStart, payloadEnd)],
  };
}

/** The end of [start, end) without the whitespace JSON allows after a value. */
function trimEnd(bytes: Buffer, start: number, end: number): number {
  while (end > start && bytes[end - 1] <= SPACE) end--;
  return end;
}

/** The JSON string at [start, end] as a name; LONG_NAME past any field name's length. */
function nameOf(bytes: Buffer, start: number, end: number, escaped: boolean): string {
  if (end - start - 1 > MAX_FIELD_NAME_BYTES) return LONG_NAME;
  if (!escaped) return bytes.toString('utf8', start + 1, end);
  return decodeString(bytes, start, end) ?? LONG_NAME;
}

/** Whether the JSON string at [start, end] (quotes included) spells `name`. */
function isName(
  bytes: Buffer,
  start: number,
  end: number,
  escaped: boolean,
  name: Buffer,
): boolean {
  const length = end - start - 1;
  if (!escaped)
    return length === name.length && bytes.compare(name, 0, length, start + 1, end) === 0;
  return length <= MAX_ESCAPED_NAME && decodeString(bytes, start, end) === name.toString();
}

function decodeRef(bytes: Buffer, start: number, end: number): string | undefined {
  // A ref of 64 characters takes at most 6 bytes each, escaped.
  if (end - start - 1 > MAX_REF_LENGTH * 6) return undefined;
  const ref = decodeString(bytes, start, end);
  return ref !== undefined && ref.length <= MAX_REF_LENGTH ? ref : undefined;
}

function decodeString(bytes: Buffer, start: number, end: number): string | undefined {
  try {
    return JSON.parse(bytes.toString('utf8', start, end + 1)) as string;
  } catch {
    return undefined;
  }
}
