import { Inject, Injectable } from '@nestjs/common';
import type { ResolvedRealtimeOptions } from '../../options/resolved-options';
import { ErrorCode, RealtimeException } from '../../protocol';
import { REALTIME_OPTIONS } from '../../realtime.constants';
import {
  IDEMPOTENCY_STORE,
  type IdempotencyStore,
  MAX_IDEMPOTENCY_KEY_LENGTH,
} from './idempotency-store.port';

/** The two key spaces of the store: BroadcastService's publishes and the app's own operations. */
export type IdempotencyScope = 'publish' | 'app';

/**
 * Carries an operation out once per key within a window, cluster-wide in
 * Redis mode (the store of `publish(..., { idempotencyKey })`): the first
 * call runs, and every call with the key within the window, concurrent ones
 * included, resolves to the first call's result. A call that fails leaves no
 * record, so the next one runs. For example an HTTP route honouring an
 * `Idempotency-Key` decides here, once for the whole cluster, the id of the
 * resource that key creates.
 *
 * @publicApi
 */
@Injectable()
export class IdempotencyService {
  constructor(
    @Inject(IDEMPOTENCY_STORE) private readonly store: IdempotencyStore,
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
  ) {}

  /**
   * `key`: 1 to 256 characters; the app's keys never meet those of
   * BroadcastService's publishes. `windowSeconds` defaults to
   * `idempotency.windowSeconds`.
   */
  once(key: string, run: () => Promise<string>, windowSeconds?: number): Promise<string> {
    return this.onceIn('app', key, run, windowSeconds);
  }

  /** @internal `once` in a given key space (BroadcastService uses `publish`). */
  onceIn(
    scope: IdempotencyScope,
    key: string,
    run: () => Promise<string>,
    windowSeconds = this.options.idempotency.windowSeconds,
  ): Promise<string> {
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      throw new RealtimeException(
        ErrorCode.BadRequest,
        `idempotencyKey must be a string of 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
      );
    }
    if (!Number.isSafeInteger(windowSeconds) || windowSeconds <= 0) {
      throw new RangeError('windowSeconds must be a positive integer');
    }
    return this.store.once(`${scope}:${key}`, windowSeconds * 1000, run);
  }
}
