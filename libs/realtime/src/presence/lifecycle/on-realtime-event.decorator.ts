import type { RealtimeEventName } from './realtime-event';

/** Metadata key of the events a method handles. */
export const REALTIME_EVENT_HANDLER = 'realtime:event-handler';

/**
 * Runs the method for each lifecycle event of that name, like
 * `@nestjs/event-emitter`'s `@OnEvent`: on a provider of any module of the
 * app, discovered at start-up. Only events that have a handler are produced.
 * Delivery is at least once, with retries (`events.attempts`, exponential
 * backoff) and a timeout per call (`events.handlerTimeoutMs`); events that
 * exhaust their attempts are dead-lettered. Stack it for several events.
 *
 * @publicApi
 */
export function OnRealtimeEvent(name: RealtimeEventName): MethodDecorator {
  return (target, key) => {
    const names = (Reflect.getMetadata(REALTIME_EVENT_HANDLER, target, key) ?? []) as string[];
    Reflect.defineMetadata(REALTIME_EVENT_HANDLER, [...names, name], target, key);
  };
}
