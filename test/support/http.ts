/** What a test's HTTP request got back: the status, the body parsed when it is JSON, and the raw text. */
export interface HttpReply<B = unknown> {
  status: number;
  body: B;
  text: string;
}

/** One JSON request to a test server, with an optional bearer token and extra headers. */
export async function requestJson<B = unknown>(
  url: string,
  method: string,
  body?: unknown,
  token?: string,
  headers: Record<string, string> = {},
): Promise<HttpReply<B>> {
  const response = await fetch(url, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (metrics, plain text)
  }
  return { status: response.status, body: parsed as B, text };
}
