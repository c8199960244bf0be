import { backoffDelay, DEFAULT_BACKOFF } from './backoff';
import { closeAction } from './close-policy';
import { CloseCode } from '@nest-realtime/protocol';

describe('closeAction (the close-code table in docs/client.md)', () => {
  it.each([
    [CloseCode.GoingAway, 'reconnect'],
    [CloseCode.MessageTooBig, 'reconnect'],
    [CloseCode.InternalError, 'reconnect'],
    [CloseCode.ServiceRestart, 'reconnect'],
    [CloseCode.HeartbeatTimeout, 'reconnect'],
    [1006, 'reconnect'],
    [CloseCode.TokenExpired, 'refresh-token'],
    [CloseCode.Revoked, 'stop'],
    [CloseCode.RateLimitExceeded, 'throttle'],
    [CloseCode.SlowConsumer, 'throttle'],
  ])('close %d → %s', (code, action) => {
    expect(closeAction(code)).toBe(action);
  });

  it.each([
    [401, 'stop'],
    [403, 'stop'],
    [429, 'throttle'],
    [503, 'reconnect'],
  ])('refused handshake %d → %s', (status, action) => {
    expect(closeAction(1006, status)).toBe(action);
  });
});

describe('backoffDelay (full jitter)', () => {
  it('draws from [0, min(max, initial·2^attempt)]', () => {
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0)).toBe(0);
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0.999)).toBe(499);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0.5)).toBe(2_000);
    expect(backoffDelay(10, DEFAULT_BACKOFF, () => 0.999)).toBe(29_970);
    expect(backoffDelay(5_000, DEFAULT_BACKOFF, () => 0.999)).toBe(29_970);
  });
});
