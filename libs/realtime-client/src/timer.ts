/** One timeout a part of the client arms, re-arms and clears. */
export class Timer {
  private handle: ReturnType<typeof setTimeout> | undefined;

  get armed(): boolean {
    return this.handle !== undefined;
  }

  /** Arms it (clearing the previous arming) to run `run` in `ms`. */
  set(ms: number, run: () => void): void {
    this.clear();
    this.handle = setTimeout(() => {
      this.handle = undefined;
      run();
    }, ms);
  }

  clear(): void {
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handle = undefined;
  }
}
