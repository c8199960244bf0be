import { PLAIN_PATH_CHARS, UpgradePath } from './upgrade-path';

/** What Nest's WsAdapter computes for an upgrade: the pathname, or the error it answers 400 for. */
function nestPathname(url: string | undefined, host: string | undefined): string | Error {
  try {
    return new URL(url as string, 'ws://' + host + '/').pathname;
  } catch (error) {
    return error as Error;
  }
}

function ours(paths: UpgradePath, url: string | undefined, host: string | undefined) {
  try {
    return paths.pathname(url, host);
  } catch (error) {
    return error as Error;
  }
}

function expectSameAsNest(paths: UpgradePath, url: string | undefined, host: string | undefined) {
  const expected = nestPathname(url, host);
  const actual = ours(paths, url, host);
  if (expected instanceof Error) {
    expect(actual).toBeInstanceOf(Error);
    expect((actual as Error).message).toBe(expected.message);
  } else {
    expect({ url, host, pathname: actual }).toEqual({ url, host, pathname: expected });
  }
}

const HOSTS = [
  '127.0.0.1:3000',
  'example.com',
  'EXAMPLE.com:443',
  '[::1]:8080',
  'user@host',
  'a/b',
  'a?b',
  undefined,
  '',
  'bad host',
  'host:99999',
  'é.example',
];

const URLS = [
  '/ws',
  '/ws?token=abc&subscribe=a,b',
  '/ws/',
  '/ws?',
  '/',
  '/?x=1',
  '/WS',
  '//ws',
  '//evil.example/ws',
  '/a//ws',
  '/./ws',
  '/x/../ws',
  '/%2e/ws',
  '/%77s',
  '/w%s',
  '/ws.',
  '\\ws',
  '/\\ws',
  '/ws#frag',
  '/ws?q#frag',
  '/w s',
  '/ws ',
  '/w\ts',
  '/wß',
  '/w|s^[x]`{}',
  'ws',
  '',
  '*',
  'ws://other.example/ws',
  'http://h/ws?x',
  '/ws?%zz\\..//é',
  "/a-b_c~d!e$f&g'h(i)j*k+l,m;n=o:p@q/r",
];

describe('UpgradePath', () => {
  it('reads the pathname (or throws) as new URL(url, ws://host/) does, for unusual targets and hosts', () => {
    const paths = new UpgradePath();
    for (const host of HOSTS) {
      for (const url of [...URLS, undefined]) expectSameAsNest(paths, url, host);
    }
  });

  it('agrees with the URL parser for every ASCII and some non-ASCII characters anywhere in a path', () => {
    const paths = new UpgradePath();
    const chars = [
      ...Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)),
      'é',
      '€',
      '\u2028',
    ];
    for (const c of chars) {
      for (const url of [`/${c}`, `/w${c}s`, `/ws${c}`, `/${c}${c}/ws`, `/ws?${c}`, `${c}/ws`]) {
        expectSameAsNest(paths, url, '127.0.0.1:3000');
      }
    }
  });

  it('keeps every character it reads without the parser as the parser does', () => {
    for (const c of PLAIN_PATH_CHARS) {
      const url = `/a${c}b${c}`;
      expect(new URL(url, 'ws://h/').pathname).toBe(url);
    }
  });

  it('gives the same answers once the host cache is full (every further host goes to the parser)', () => {
    const paths = new UpgradePath();
    for (let i = 0; i < 100; i++) expectSameAsNest(paths, '/ws?i=' + i, `host${i}.example`);
    for (const host of HOSTS) expectSameAsNest(paths, '/ws', host);
    expectSameAsNest(paths, '/ws', 'x'.repeat(300));
  });
});
