import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { REALTIME_EVENT_HANDLER } from './on-realtime-event.decorator';
import type { RealtimeEvent, RealtimeEventName } from './realtime-event';

/** One `@OnRealtimeEvent` method: named `Class.method`, the same on every instance of the app. */
export interface LifecycleHandler {
  key: string;
  call(event: RealtimeEvent): unknown;
}

/** Thrown when a handler does not settle within `events.handlerTimeoutMs`. */
export class HandlerTimeoutError extends Error {
  constructor(key: string, ms: number) {
    super(`${key} did not settle within ${ms} ms`);
    this.name = 'HandlerTimeoutError';
  }
}

/**
 * The app's `@OnRealtimeEvent` methods, found once with Nest's
 * DiscoveryService (singleton providers only: a request-scoped one has no
 * instance to call): at module init, or at the first question before it (a
 * test's module that was compiled, never initialized, has its instances).
 */
@Injectable()
export class LifecycleHandlers implements OnModuleInit {
  private readonly logger = new Logger('Realtime');
  private readonly byName = new Map<string, LifecycleHandler[]>();
  private readonly byKey = new Map<string, LifecycleHandler>();
  private found = false;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  onModuleInit(): void {
    this.find();
  }

  has(name: RealtimeEventName): boolean {
    this.find();
    return this.byName.has(name);
  }

  of(name: RealtimeEventName): readonly LifecycleHandler[] {
    this.find();
    return this.byName.get(name) ?? [];
  }

  byHandlerKey(key: string): LifecycleHandler | undefined {
    this.find();
    return this.byKey.get(key);
  }

  private find(): void {
    if (this.found) return;
    this.found = true;
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const prototype = Object.getPrototypeOf(instance) as object;
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const names = Reflect.getMetadata(REALTIME_EVENT_HANDLER, prototype, method) as
          string[] | undefined;
        if (!names) continue;
        const key = `${prototype.constructor.name}.${method}`;
        const fn = instance[method] as (event: RealtimeEvent) => unknown;
        const handler: LifecycleHandler = { key, call: (event) => fn.call(instance, event) };
        this.byKey.set(key, handler);
        for (const name of names) {
          const list = this.byName.get(name) ?? [];
          list.push(handler);
          this.byName.set(name, list);
        }
      }
    }
    if (this.byKey.size > 0) {
      this.logger.log(`lifecycle handlers: ${[...this.byKey.keys()].join(', ')}`);
    }
  }
}

/**
 * Runs one handler on one event; rejects on a throw or once `timeoutMs`
 * passed (the call is then abandoned). Only a handler that returns a promise
 * gets a timer: a synchronous one has finished when it returns (a timer could
 * not have fired during it anyway), so a connect storm with a counter as its
 * `connected` handler sets no timer per event.
 */
export async function runHandler(
  handler: LifecycleHandler,
  event: RealtimeEvent,
  timeoutMs: number,
): Promise<void> {
  // A microtask later: the handler never runs inside the emitter's own work (a handshake, a close).
  await Promise.resolve();
  const result = handler.call(event);
  if (!isThenable(result)) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HandlerTimeoutError(handler.key, timeoutMs)), timeoutMs);
    timer.unref();
  });
  try {
    // An async handler runs on without blocking the caller.
    await Promise.race([result, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
