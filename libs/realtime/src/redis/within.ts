/** Why a call `within` gave up on was rejected. */
export class RedisTooSlowError extends Error {
  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms`);
  }
}

/**
 * `call`, or a rejection once `ms` passed without its answer: a deadline for
 * one caller on a connection it shares with others (ioredis's
 * `commandTimeout` is per connection). One timer per call, so callers batch
 * first (a turn's handshakes share one). The command itself is not
 * withdrawn: it may still run, as with `commandTimeout`.
 */
export function within<T>(call: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // The error is built only when it is thrown: its stack trace costs more than the timer.
    const timer = setTimeout(() => reject(new RedisTooSlowError(ms)), ms);
    call.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: Error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
