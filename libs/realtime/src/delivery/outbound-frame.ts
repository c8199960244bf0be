import * as ws from 'ws';
import type { ServerEvent } from '../protocol';

/** A frame serialized once: as text, and as the complete WebSocket frame bytes. */
export interface OutboundFrame {
  readonly text: string;
  readonly bytes: Buffer;
}

interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}

/** ws frames data with this static helper; @types/ws does not declare it. */
const { Sender } = ws as unknown as {
  Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] };
};
const TEXT_OPCODE = 1;
const SERVER_TEXT_FRAME: FrameOptions = {
  fin: true,
  opcode: TEXT_OPCODE,
  mask: false,
  readOnly: true,
  rsv1: false,
};

/**
 * Serializes and frames a server frame once; the same bytes then go to every
 * recipient (server frames are never masked, so they are identical).
 */
export function encodeFrame(event: ServerEvent, data: unknown): OutboundFrame {
  const text = JSON.stringify({ event, data });
  const parts = Sender.frame(Buffer.from(text), SERVER_TEXT_FRAME);
  return { text, bytes: parts.length === 1 ? parts[0] : Buffer.concat(parts) };
}
