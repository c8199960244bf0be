import fc from 'fast-check';
import { handshakeQuery } from './handshake-query';

/** What URLSearchParams makes of the same URL: the reference the fast path must match. */
function reference(url: string): { token?: string; subscribe?: string } {
  const start = url.indexOf('?');
  if (start === -1) return {};
  const params = new URLSearchParams(url.slice(start + 1));
  return {
    token: params.get('token') || undefined,
    subscribe: params.get('subscribe') ?? undefined,
  };
}

describe('handshakeQuery', () => {
  it.each([
    ['/ws', {}],
    ['/ws?', {}],
    ['/ws?token=', {}],
    ['/ws?token=a.b.c', { token: 'a.b.c' }],
    ['/ws?subscribe=news,orders&token=t', { token: 't', subscribe: 'news,orders' }],
    ['/ws?token=first&token=second', { token: 'first' }],
    ['/ws?token=a%2Eb', { token: 'a.b' }],
    ['/ws?token=a+b', { token: 'a b' }],
    ['/ws?token=%E0%A4%A', reference('/ws?token=%E0%A4%A')],
  ])('%s', (url, expected) => {
    expect(handshakeQuery(url)).toEqual({ token: undefined, subscribe: undefined, ...expected });
  });

  it('reads every query as URLSearchParams does', () => {
    const part = fc.stringMatching(/^[a-z0-9=&%+.,_-]{0,12}$/);
    fc.assert(
      fc.property(
        fc.array(fc.oneof(part, fc.constantFrom('token=', 'subscribe=', '&')), { maxLength: 8 }),
        (parts) => {
          const url = `/ws?${parts.join('')}`;
          const { token, subscribe } = handshakeQuery(url);
          expect({ token, subscribe }).toEqual({
            token: reference(url).token,
            subscribe: reference(url).subscribe,
          });
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
