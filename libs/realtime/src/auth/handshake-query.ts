/**
 * `token` and `subscribe` from the request's query. Most handshakes carry
 * only these, in characters that need no decoding (a JWT is base64url), so
 * they are read without building a URLSearchParams; anything that needs
 * decoding goes through URLSearchParams, whose rules (`+`, bad escapes) win.
 * An empty `?token=` counts as no token; an empty `?subscribe=` is there all
 * the same (it names no topic, and gets its `subscribed`, PROTOCOL §1).
 */
export function handshakeQuery(url: string | undefined): { token?: string; subscribe?: string } {
  const start = url?.indexOf('?') ?? -1;
  if (url === undefined || start === -1) return {};
  const query = url.slice(start + 1);
  if (/[%+]/.test(query)) {
    const params = new URLSearchParams(query);
    return {
      token: params.get('token') || undefined,
      subscribe: params.get('subscribe') ?? undefined,
    };
  }
  let token: string | undefined;
  let subscribe: string | undefined;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? '' : pair.slice(eq + 1);
    // The first occurrence wins, as URLSearchParams.get does.
    if (name === 'token') token ??= value;
    else if (name === 'subscribe') subscribe ??= value;
  }
  return { token: token || undefined, subscribe };
}
