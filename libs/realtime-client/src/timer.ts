/** setTimeout runs a delay past this (about 24.8 days) after 1 ms: longer waits are made of steps. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** One timeout a part of the client arms, re-arms and clears. */
export class Timer {
  private handle: ReturnType<typeof setTimeout> | undefined;

  get armed(): boolean {
    return this.handle !== undefined;
  }

  /** Arms it (clearing the previous arming) to run `run` in `ms`. */
  set(ms: number, run: () => void): void {
    this.clear();
    const step = Math.min(ms, MAX_TIMEOUT_MS);
    this.handle = setTimeout(() => {
      this.handle = undefined;
      if (ms > step) this.set(ms - step, run);
      else run();
    }, step);
  }

  clear(): void {
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handle = undefined;
  }
}
