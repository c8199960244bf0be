import { ServerEvent } from './wire-events.constants';

/** A server-to-client frame as handlers return it; the adapter serializes it. */
export interface ServerFrame<D = unknown> {
  event: ServerEvent;
  data: D;
}

export function frame<D>(event: ServerEvent, data: D): ServerFrame<D> {
  return { event, data };
}

export interface ErrorFrameData {
  ref?: string;
  code: string;
  message: string;
  topic?: string;
}
