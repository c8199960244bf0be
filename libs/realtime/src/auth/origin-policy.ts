import type { IncomingHttpHeaders } from 'node:http';

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

  /**
   * A handshake may name its origin in `Origin` or in `Sec-WebSocket-Origin`
   * (the header of the older drafts, which a client can still send with
   * version 13): each one present must be allowed, so neither can stand in
   * for the other (PROTOCOL §1). An empty header counts as absent.
   */
  allowsHandshake(headers: IncomingHttpHeaders): boolean {
    return (
      this.allows(headerValue(headers.origin)) &&
      this.allows(headerValue(headers['sec-websocket-origin']))
    );
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

/** Node joins a repeated header into one value; a list, were it one, is joined likewise (and parses as no origin). */
function headerValue(value: string | string[] | undefined): string | undefined {
  return (Array.isArray(value) ? value.join(', ') : value) || undefined;
}
