/**
 * The path an HTTP upgrade asks for, exactly as Nest's WsAdapter reads it:
 * `new URL(request.url, 'ws://' + host + '/').pathname` (which throws where
 * that URL does not parse). Building a URL costs every handshake ~3 µs; a
 * plain request target (`/` followed by characters the URL parser keeps as
 * they are, up to `?`) is its own pathname, so it is sliced instead. Anything
 * else (`%`, `.`, `\`, `//`, non-ASCII, an absolute URL, …) goes through the
 * URL parser as before.
 */
export class UpgradePath {
  /** Host headers that make a valid base URL (bounded: the header is the client's). */
  private readonly validHosts = new Set<string>();
  /** The last valid host seen: clients of one server send the same one (compared, not hashed). */
  private lastHost: string | undefined;

  pathname(url: string | undefined, host: string | undefined): string {
    if (url !== undefined && host !== undefined && this.isValidHost(host)) {
      const end = plainPathEnd(url);
      if (end !== -1) return end === url.length ? url : url.slice(0, end);
    }
    return new URL(url as string, 'ws://' + host + '/').pathname;
  }

  /** Whether `ws://<host>/` parses: only then can a path be read without the URL parser. */
  private isValidHost(host: string): boolean {
    if (host === this.lastHost) return true;
    if (this.validHosts.has(host)) {
      this.lastHost = host;
      return true;
    }
    if (host.length > MAX_CACHED_HOST || this.validHosts.size >= MAX_CACHED_HOSTS) return false;
    try {
      new URL('ws://' + host + '/');
    } catch {
      return false;
    }
    this.validHosts.add(host);
    this.lastHost = host;
    return true;
  }
}

const MAX_CACHED_HOSTS = 64;
const MAX_CACHED_HOST = 255;
const SLASH = 0x2f;
const QUESTION_MARK = 0x3f;

/**
 * Characters the URL parser keeps unchanged in a path, and that make no path
 * segment of their own (no `.`, `%`, `\`). Checked against Node's URL for all
 * of ASCII in upgrade-path.spec.ts.
 */
export const PLAIN_PATH_CHARS =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~!$&'()*+,;=:@/";

const PLAIN = new Uint8Array(128);
for (let i = 0; i < PLAIN_PATH_CHARS.length; i++) PLAIN[PLAIN_PATH_CHARS.charCodeAt(i)] = 1;

/**
 * Where the path of a plain origin-form target ends (its length, or its `?`);
 * -1 where the URL parser must read it (not `/`-rooted, `//`, another character).
 */
function plainPathEnd(url: string): number {
  if (url.charCodeAt(0) !== SLASH || url.charCodeAt(1) === SLASH) return -1;
  const length = url.length;
  for (let i = 1; i < length; i++) {
    const code = url.charCodeAt(i);
    if (code === QUESTION_MARK) return i;
    if (code >= 128 || PLAIN[code] === 0) return -1;
  }
  return length;
}
