import { MAX_REF_LENGTH } from '@nest-realtime/protocol';

/** The request's `ref` when it is one the reply may echo (a string of at most 64 characters). */
export function refOf(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const ref = (data as { ref?: unknown }).ref;
  return typeof ref === 'string' && ref.length <= MAX_REF_LENGTH ? ref : undefined;
}
