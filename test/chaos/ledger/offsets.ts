/**
 * The server's offsets as the ledger reads them. The wire contract keeps
 * offsets opaque to clients; the checker may look inside, because it checks
 * the server: `<epoch>-<sequence>` (docs/protocol.md §7), sequences
 * contiguous from 1 within an epoch, and a later epoch after a lost history.
 */
export interface Offset {
  readonly epoch: bigint;
  readonly seq: number;
  readonly text: string;
}

const OFFSET = /^(\d{1,30})-(\d{1,15})$/;

export function parseOffset(text: unknown): Offset | undefined {
  if (typeof text !== 'string') return undefined;
  const match = OFFSET.exec(text);
  if (!match) return undefined;
  return { epoch: BigInt(match[1]), seq: Number(match[2]), text };
}

/** Negative when `a` comes first: by epoch, then by sequence. */
export function compareOffsets(a: Offset, b: Offset): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return a.seq - b.seq;
}
