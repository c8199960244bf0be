import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { MemoryEngine } from './memory.engine';
import type { RealtimeEngine } from './realtime-engine.port';

/** Picks the engine named by the options; the rest of the library sees only the port. */
export function createEngine(options: ResolvedRealtimeOptions): RealtimeEngine {
  return new MemoryEngine({
    historySize: options.history.size,
    historyTtlMs: options.history.ttlSeconds * 1000,
    maxHistoryTopics: options.history.maxTopics,
  });
}
