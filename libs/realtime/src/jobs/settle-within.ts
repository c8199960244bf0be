/**
 * Waits for `work` at most `ms`; resolves to whether it settled in time (a
 * rejection counts as settled). Shutdown's waits use it: every one of them
 * is bounded, and what is cut off is left to Bull's retries (a job's lock
 * expires, another instance runs it again).
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  const settled = work.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}
