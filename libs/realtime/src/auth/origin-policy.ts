/**
 * The browser origin allow-list. Origins are compared after normalisation
 * (lower-case scheme and host, default port dropped), so `HTTPS://App.example.com:443`
 * matches `https://app.example.com`. A request without Origin is not from a
 * browser page and is allowed; `*` allows every origin (development only).
 */
export class OriginPolicy {
  private readonly allowAll: boolean;
  private readonly allowed: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.allowAll = origins.includes('*');
    this.allowed = new Set(origins.filter((o) => o !== '*').map((o) => normalizeOrigin(o) ?? o));
  }

  allows(origin: string | undefined): boolean {
    if (origin === undefined || this.allowAll) return true;
    const normalized = normalizeOrigin(origin);
    return normalized !== undefined && this.allowed.has(normalized);
  }
}

export function normalizeOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}
