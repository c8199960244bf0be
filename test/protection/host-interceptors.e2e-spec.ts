import {
  type CallHandler,
  ClassSerializerInterceptor,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { map, type Observable } from 'rxjs';
import { ProtectedApp } from '../support/protected-app';

/** The response-wrapping interceptor of Nest's docs, registered app-wide as HTTP apps do. */
@Injectable()
class WrapResponses implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((data: unknown) => ({ data })));
  }
}

/**
 * Interceptors are for HTTP responses: one that rewrites what a handler
 * returns must not rewrite (or swallow) the protocol's replies, nor hold a
 * subscribed topic back for good.
 */
describe.each([
  ['a response-wrapping interceptor', WrapResponses],
  ["Nest's ClassSerializerInterceptor", ClassSerializerInterceptor],
])('an app-wide %s', (_name, interceptor) => {
  let app: ProtectedApp;

  beforeAll(async () => {
    app = await ProtectedApp.start({
      providers: [{ provide: APP_INTERCEPTOR, useClass: interceptor }],
    });
  });
  afterAll(() => app.stop());

  it('leaves every reply and message frame as the protocol has it', async () => {
    const client = await app.connect({ token: app.token('ada') });
    const pong = await client.request('ping');
    expect(pong).toEqual({
      event: 'pong',
      data: { ref: expect.any(String), ts: expect.any(Number) },
    });
    const subscribed = await client.request('subscribe', { topics: ['chat:room'] });
    expect(subscribed).toMatchObject({
      event: 'subscribed',
      data: { topics: [{ topic: 'chat:room' }] },
    });
    const published = await client.request('publish', {
      topic: 'chat:room',
      type: 'said',
      payload: { text: 'hi' },
    });
    expect(published).toMatchObject({ event: 'published', data: { offset: expect.any(String) } });
    const message = await client.waitFor((f) => f.event === 'message');
    expect(message.data).toMatchObject({
      topic: 'chat:room',
      type: 'said',
      payload: { text: 'hi' },
    });
  });
});
