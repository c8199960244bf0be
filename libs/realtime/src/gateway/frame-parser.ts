import { ClientEvent, ErrorCode, INVALID_FRAME_EVENT, refOf } from '../protocol';

/** What the gateway's handlers receive: a frame, or the reason it was refused. */
export type ParsedFrame =
  | { event: ClientEvent; data: Record<string, unknown> }
  | { event: typeof INVALID_FRAME_EVENT; data: InvalidFrame };

export interface InvalidFrame {
  code: ErrorCode;
  message: string;
  ref?: string;
}

const CLIENT_EVENTS: ReadonlySet<string> = new Set(Object.values(ClientEvent));
const FRAME_KEYS: ReadonlySet<string> = new Set(['event', 'data']);
/** Requests are shallow; anything deeper is garbage or an attack on the validator. */
const MAX_DEPTH = 16;
/**
 * Deeper than this, a frame is refused before JSON.parse (and without its
 * ref). Up to it, parsing a frame within maxMessageBytes costs what any
 * frame of that size costs, and nesting past MAX_DEPTH is refused after.
 */
const MAX_SCANNED_DEPTH = 128;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Turns a raw frame into `{event, data}`. Nothing a client sends makes it
 * throw: every refusal becomes an INVALID_FRAME_EVENT frame that the gateway
 * answers with the contract's error code (WsAdapter would drop it silently).
 */
export function parseFrame(raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ParsedFrame {
  if (isBinary) return invalid(ErrorCode.BadRequest, 'binary frames are not accepted');
  const bytes = toBuffer(raw);
  // Before JSON.parse, whose cost grows with the nesting: ws has already bounded the size.
  if (nestsTooDeep(bytes)) return invalid(ErrorCode.BadRequest, 'data is nested too deeply');
  let value: unknown;
  try {
    // No reviver: V8 parses any nesting iteratively, a reviver would recurse.
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return invalid(ErrorCode.BadRequest, 'frame is not valid JSON');
  }
  if (!isPlainObject(value)) return invalid(ErrorCode.BadRequest, 'frame must be a JSON object');
  const data = value.data;
  const ref = refOf(data);
  const frameProblem = envelopeProblem(value);
  if (frameProblem) return invalid(ErrorCode.BadRequest, frameProblem, ref);
  if (!CLIENT_EVENTS.has(value.event as string)) {
    return invalid(ErrorCode.UnknownEvent, 'unknown event', ref);
  }
  const dataProblem = shapeProblem(data);
  if (dataProblem) return invalid(ErrorCode.BadRequest, dataProblem, ref);
  return { event: value.event as ClientEvent, data: data as Record<string, unknown> };
}

function envelopeProblem(frame: Record<string, unknown>): string | undefined {
  if (typeof frame.event !== 'string') return 'event must be a string';
  if (Object.keys(frame).some((key) => !FRAME_KEYS.has(key)))
    return 'frame may only hold event and data';
  return undefined;
}

/** `data` is required, even where every field is optional (PROTOCOL.md §1, §3). */
function shapeProblem(data: unknown): string | undefined {
  if (!isPlainObject(data)) return 'data must be an object';
  // Names such as `constructor` slip past DTO whitelisting; no request field is called that.
  if (Object.keys(data).some(isObjectMember)) return 'unknown field in data';
  return nestingProblem(data);
}

/** `constructor`, `toString`, `__proto__`, `prototype`…: names of the object machinery. */
function isObjectMember(key: string): boolean {
  return key in Object.prototype || key === 'prototype';
}

function invalid(code: ErrorCode, message: string, ref?: string): ParsedFrame {
  return { event: INVALID_FRAME_EVENT, data: { code, message, ref } };
}

function toBuffer(raw: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Array.isArray(raw)) return Buffer.concat(raw);
  return Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
}

/**
 * One pass over the bytes, outside strings, counting open brackets: stops at
 * the first one past MAX_SCANNED_DEPTH, so 500,000 `[` cost 129 byte reads.
 * Malformed input is left to JSON.parse.
 */
function nestsTooDeep(bytes: Buffer): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > MAX_SCANNED_DEPTH) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Refuses nesting deeper than MAX_DEPTH and `__proto__` keys (JSON.parse keeps
 * them as own properties; later copies would turn them into prototypes).
 * Iterative and stops at the first problem, so hostile input costs little.
 */
function nestingProblem(root: unknown): string | undefined {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (typeof node !== 'object' || node === null) continue;
    if (depth > MAX_DEPTH) return 'data is nested too deeply';
    if (!Array.isArray(node) && Object.hasOwn(node, '__proto__')) return 'forbidden key in frame';
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return undefined;
}
