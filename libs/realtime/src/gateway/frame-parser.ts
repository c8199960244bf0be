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

class ForbiddenKey extends Error {}

/**
 * Turns a raw frame into `{event, data}`. Nothing a client sends makes it
 * throw: every refusal becomes an INVALID_FRAME_EVENT frame that the gateway
 * answers with the contract's error code (WsAdapter would drop it silently).
 */
export function parseFrame(raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ParsedFrame {
  if (isBinary) return invalid(ErrorCode.BadRequest, 'binary frames are not accepted');
  let value: unknown;
  try {
    value = JSON.parse(toText(raw), refusePrototypeKeys);
  } catch (error) {
    if (error instanceof ForbiddenKey) {
      return invalid(ErrorCode.BadRequest, 'forbidden key in frame', refOfRefused(raw));
    }
    return invalid(ErrorCode.BadRequest, 'frame is not valid JSON');
  }
  if (!isPlainObject(value)) return invalid(ErrorCode.BadRequest, 'frame must be a JSON object');
  const data = value.data === undefined ? {} : value.data;
  const ref = refOf(data);
  if (typeof value.event !== 'string')
    return invalid(ErrorCode.BadRequest, 'event must be a string', ref);
  if (Object.keys(value).some((key) => !FRAME_KEYS.has(key))) {
    return invalid(ErrorCode.BadRequest, 'frame may only hold event and data', ref);
  }
  if (!isPlainObject(data)) return invalid(ErrorCode.BadRequest, 'data must be an object', ref);
  if (depthExceeds(data, MAX_DEPTH))
    return invalid(ErrorCode.BadRequest, 'data is nested too deeply', ref);
  if (!CLIENT_EVENTS.has(value.event)) return invalid(ErrorCode.UnknownEvent, 'unknown event', ref);
  return { event: value.event as ClientEvent, data };
}

function invalid(code: ErrorCode, message: string, ref?: string): ParsedFrame {
  return { event: INVALID_FRAME_EVENT, data: { code, message, ref } };
}

function toText(raw: Buffer | ArrayBuffer | Buffer[]): string {
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return Buffer.isBuffer(raw) ? raw.toString('utf8') : Buffer.from(raw).toString('utf8');
}

/**
 * The `ref` of a frame refused for a `__proto__` key, so the error can echo it.
 * Plain JSON.parse only defines such keys as own properties; nothing else is read.
 */
function refOfRefused(raw: Buffer | ArrayBuffer | Buffer[]): string | undefined {
  const value: unknown = JSON.parse(toText(raw));
  return isPlainObject(value) ? refOf(value.data) : undefined;
}

function refusePrototypeKeys(key: string, value: unknown): unknown {
  if (key === '__proto__') throw new ForbiddenKey();
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Iterative, so hostile nesting cannot overflow the stack. */
function depthExceeds(root: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (typeof node !== 'object' || node === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}
