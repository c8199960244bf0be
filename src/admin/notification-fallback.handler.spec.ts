import { Logger } from '@nestjs/common';
import { NotificationFallbackHandler } from './notification-fallback.handler';

describe('NotificationFallbackHandler', () => {
  it('logs what callers chose quoted and escaped: one line, no forged entry (issue 18, item 7)', () => {
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    try {
      new NotificationFallbackHandler().handle({
        id: 'm1',
        userId: 'eve\n[Nest] 1 - LOG [Admin] forged',
        type: 'note\r\nforged',
        payload: {},
        reason: 'expired',
        createdAt: 0,
        deadAt: 0,
      } as never);
      const [line] = log.mock.calls[0] as [string];
      expect(line).not.toMatch(/[\r\n]/);
      expect(line).toBe(
        'dead letter m1 (expired) for user "eve\\n[Nest] 1 - LOG [Admin] forged": "note\\r\\nforged"',
      );
    } finally {
      log.mockRestore();
    }
  });
});
