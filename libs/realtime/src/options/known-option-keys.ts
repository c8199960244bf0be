import type { RealtimeModuleOptions } from './realtime-module-options.interface';
import type { ResolvedRealtimeOptions } from './resolved-options';
import { PLAIN_GROUPS, RealtimeOptionsError } from './validate-options';

/** What a namespace's policy may say (NamespacePolicy). */
const POLICY_KEYS = ['subscribe', 'publish', 'maxPerConnection', 'history', 'presence'];
const POLICY_HISTORY_KEYS = ['size', 'ttlSeconds', 'maxBytes'];
const POLICY_PRESENCE_KEYS = ['joinLeave'];

/**
 * A misspelt option (`limits.maxConection`, `topics.chat.subscibe`) would
 * otherwise leave its default in place without a word: for a topic rule that
 * is `none`, every subscribe refused. Checked against what the resolved
 * options name, so a new option needs no entry here; ioredis's own options
 * (`redis.options`, `redis.cluster.options`) are ioredis's to check.
 */
export function assertKnownOptionKeys(
  options: RealtimeModuleOptions,
  resolved: ResolvedRealtimeOptions,
): void {
  assertKnown('', options, Object.keys(resolved));
  for (const group of PLAIN_GROUPS) {
    assertKnown(`${group}.`, options[group], Object.keys(resolved[group]));
  }
  assertKnown('engine.', options.engine, ['type']);
  if (options.redis && resolved.redis) {
    assertKnown('redis.', options.redis, Object.keys(resolved.redis));
    assertKnown('redis.cluster.', options.redis.cluster, ['nodes', 'options']);
  }
  for (const [namespace, policy] of Object.entries(options.topics ?? {})) {
    const prefix = `topics.${namespace}.`;
    assertKnown(prefix, policy, POLICY_KEYS);
    assertKnown(`${prefix}history.`, policy.history, POLICY_HISTORY_KEYS);
    assertKnown(`${prefix}presence.`, policy.presence, POLICY_PRESENCE_KEYS);
  }
}

function assertKnown(prefix: string, given: unknown, known: readonly string[]): void {
  // A value that is no object is the shape checks' to name (`must be an object`).
  if (typeof given !== 'object' || given === null || Array.isArray(given)) return;
  for (const key of Object.keys(given)) {
    if (!known.includes(key)) {
      throw new RealtimeOptionsError(`${prefix}${key}`, 'is not an option (misspelt?)');
    }
  }
}
