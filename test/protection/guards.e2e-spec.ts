import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  HttpException,
  HttpStatus,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ProtectedApp } from '../support/protected-app';

/**
 * An app-wide guard, as apps register for their HTTP routes: Nest applies it
 * to gateway messages too. It refuses messages whose `ref` asks for it.
 */
@Injectable()
class AppWideGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'ws') return true;
    const ref = context.switchToWs().getData<{ ref?: unknown } | undefined>()?.ref;
    switch (ref) {
      case 'deny-401':
        throw new UnauthorizedException('session cookie missing for /internal/admin');
      case 'deny-403':
        throw new ForbiddenException();
      case 'deny-429':
        throw new HttpException(
          'ThrottlerException: Too Many Requests',
          HttpStatus.TOO_MANY_REQUESTS,
        );
      case 'deny-false':
        return false;
      case 'deny-crash':
        throw new TypeError(
          "Cannot read properties of undefined (reading 'id') at /srv/app/guard.ts:12",
        );
      default:
        return true;
    }
  }
}

/** Guards' refusals reach the client as the contract's codes, without their internals. */
describe('refusals from guards', () => {
  let app: ProtectedApp;

  beforeAll(async () => {
    app = await ProtectedApp.start({
      providers: [{ provide: APP_GUARD, useClass: AppWideGuard }],
      // The crash below is logged on purpose.
      logger: false,
      realtime: { limits: { messageRate: 3, messageWindowMs: 60_000 } },
    });
  });
  afterAll(() => app.stop());

  it('maps an app guard’s 401 and 403 to UNAUTHORIZED, 429 to RATE_LIMITED, a crash to INTERNAL', async () => {
    const expected: Array<[string, string]> = [
      ['deny-401', 'UNAUTHORIZED'],
      ['deny-403', 'UNAUTHORIZED'],
      ['deny-false', 'UNAUTHORIZED'],
      ['deny-429', 'RATE_LIMITED'],
      ['deny-crash', 'INTERNAL'],
    ];
    for (const [ref, code] of expected) {
      const client = await app.connect();
      client.send('ping', { ref });
      const reply = await client.waitFor((f) => f.data?.ref === ref);
      expect(reply).toEqual({ event: 'error', data: { ref, code, message: expect.any(String) } });
      expect(client.raw.join()).not.toMatch(
        /cookie|internal\/admin|Throttler|TypeError|\/srv|\.ts/,
      );
      expect(client.isOpen).toBe(true);
      expect((await client.request('ping')).event).toBe('pong');
    }
  });

  it('answers RATE_LIMITED from the library’s own throttler guard past the message rate', async () => {
    const client = await app.connect();
    for (let i = 0; i < 3; i++) expect((await client.request('ping')).event).toBe('pong');
    const limited = await client.request('ping');
    expect(limited.data).toMatchObject({ code: 'RATE_LIMITED', message: 'too many messages' });
    expect(client.isOpen).toBe(true);
  });

  it('answers UNAUTHORIZED where a signed-in user is needed, and keeps the connection', async () => {
    const client = await app.connect();
    const subscribe = await client.request('subscribe', { topics: ['orders'] });
    expect(subscribe.data).toMatchObject({ code: 'UNAUTHORIZED', topic: 'orders' });
    const publish = await client.request('publish', { topic: 'chat:room', type: 't', payload: {} });
    expect(publish.data).toMatchObject({ code: 'UNAUTHORIZED', topic: 'chat:room' });
    expect(client.isOpen).toBe(true);
  });
});
