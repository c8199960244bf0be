const RUNS = /\d+|\D+/g;

/**
 * Compares offsets in natural order (PROTOCOL.md §3): digit runs as numbers of
 * any length (`17` < `102`, `1700000000000-3` < `1700000000000-12`), the rest
 * as text. Negative when `a` comes first.
 */
export function compareOffsets(a: string, b: string): number {
  const left = a.match(RUNS) ?? [];
  const right = b.match(RUNS) ?? [];
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const order = compareRuns(left[i], right[i]);
    if (order !== 0) return order;
  }
  return left.length - right.length;
}

function compareRuns(a: string, b: string): number {
  if (isDigits(a) && isDigits(b)) {
    const x = a.replace(/^0+(?=\d)/, '');
    const y = b.replace(/^0+(?=\d)/, '');
    if (x.length !== y.length) return x.length - y.length;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function isDigits(run: string): boolean {
  const code = run.charCodeAt(0);
  return code >= 48 && code <= 57;
}
