import fc from 'fast-check';
import { leakIn } from '../support/contract-shapes';
import { DemoApp, TEST_JWT_SECRET } from '../support/demo-app';
import { claimsAccepted, claimsArbitrary, hs256 } from '../support/token-claims';

jest.setTimeout(120_000);

/** The demo's `jwt.clockToleranceSec` (the library's default). */
const DEMO_TOLERANCE_SEC = 30;

/**
 * PROTOCOL.md §7: HTTP routes accept exactly the tokens the handshake
 * accepts. Claims of every type and size, signed with the demo's key: the
 * handshake is upgraded exactly when the claim rules accept them, the `auth`
 * event agrees, and so does a route (404 for an order nobody has, 401 for
 * the token); refusals are 401 without internals.
 */
describe('tokens, whatever their claims', () => {
  let app: DemoApp;

  beforeAll(async () => {
    app = await DemoApp.start({ REALTIME_ALLOW_ANONYMOUS: 'true' });
  });
  afterAll(() => app?.stop());

  it('are accepted alike by the handshake, the auth event and the routes, as the rules say', async () => {
    const claims = claimsArbitrary(Math.floor(Date.now() / 1000), DEMO_TOLERANCE_SEC);
    await fc.assert(
      fc.asyncProperty(claims, async (given) => {
        const token = hs256(given, TEST_JWT_SECRET);
        const signed = JSON.parse(JSON.stringify(given)) as Record<string, unknown>;
        const expected = claimsAccepted(signed, Date.now(), DEMO_TOLERANCE_SEC);
        const handshake = await app.tryConnect({ token });
        if (handshake.kind === 'open') await handshake.client.close();
        const anonymous = await app.connect();
        const auth = await anonymous.request('auth', { token });
        await anonymous.close();
        const route = await app.http('GET', '/orders/nobody-has-this', undefined, token);
        // A claim whose bound passed meanwhile (the clock moves): the rules themselves changed.
        fc.pre(claimsAccepted(signed, Date.now(), DEMO_TOLERANCE_SEC) === expected);
        const refusal = handshake.kind === 'refused' ? handshake.body : '';
        expect({
          signed,
          handshake: handshake.kind === 'refused' ? handshake.status : handshake.kind,
          auth: auth.event === 'error' ? auth.data.code : auth.event,
          route: route.status,
          leak: leakIn(refusal + route.text + JSON.stringify(auth)),
        }).toEqual({
          signed,
          handshake: expected ? 'open' : 401,
          auth: expected ? 'authenticated' : 'UNAUTHORIZED',
          route: expected ? 404 : 401,
          leak: undefined,
        });
      }),
      { numRuns: 250 },
    );
  });
});
