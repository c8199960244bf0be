import { ServerEvent } from './wire-events.constants';

/** A server-to-client frame as handlers return it; the adapter serializes it. */
export interface ServerFrame<D = unknown> {
  event: ServerEvent;
  data: D;
}

export function frame<D>(event: ServerEvent, data: D): ServerFrame<D> {
  return { event, data };
}

/** Offsets and messages as they travel inside `message` frames. */
export interface MessageFrameData {
  topic: string;
  type: string;
  payload: unknown;
  offset?: string;
  ts: number;
  /** Retained `$user` messages only: what the client acknowledges. */
  id?: string;
}

export interface ErrorFrameData {
  ref?: string;
  code: string;
  message: string;
  topic?: string;
}
