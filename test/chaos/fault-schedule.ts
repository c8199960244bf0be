import type { ChaosConfig } from './chaos-config';
import type { FaultKind } from './chaos-cluster';
import type { SeededRandom } from './seeded-random';

export interface ScheduledFault {
  /** Milliseconds after the chaos phase starts. */
  at: number;
  kind: FaultKind;
  /** The instance a kill or pause prefers (another one is taken if it is not up then). */
  target: number;
  /** How long the instance, Redis or the link stays down (0 for a subscriber drop). */
  ms: number;
}

const EVERY_KIND: readonly FaultKind[] = [
  'kill',
  'redis-restart-empty',
  'pause',
  'subscriber-drop',
  'partition',
  'redis-restart-aof',
];

/**
 * The seeded fault schedule: every kind once in a seeded order, then again
 * in another order, as many faults as asked for; start times spread over the
 * chaos phase with jitter, so that faults sometimes overlap. The last fault
 * starts before 80 % of the phase, leaving time to see its effects.
 */
export function faultSchedule(config: ChaosConfig, random: SeededRandom): ScheduledFault[] {
  const kinds: FaultKind[] = [];
  while (kinds.length < config.faults) kinds.push(...random.shuffle([...EVERY_KIND]));
  kinds.length = config.faults;
  const first = config.durationMs * 0.08;
  const slot = (config.durationMs * 0.8 - first) / Math.max(1, kinds.length);
  return kinds.map((kind, i) => ({
    at: Math.round(first + slot * i + random.next() * slot * 0.9),
    kind,
    target: random.int(0, 2),
    ms: durationOf(kind, config, random),
  }));
}

/** When the chaos phase revokes users: spread over the phase, seeded jitter. */
export function revocationTimes(config: ChaosConfig, random: SeededRandom): number[] {
  const slot = (config.durationMs * 0.8) / Math.max(1, config.revocations);
  return Array.from({ length: config.revocations }, (_, i) =>
    Math.round(config.durationMs * 0.05 + slot * i + random.next() * slot * 0.8),
  );
}

function durationOf(kind: FaultKind, config: ChaosConfig, random: SeededRandom): number {
  const scale = Math.min(1, config.durationMs / 120_000);
  switch (kind) {
    case 'kill':
      return random.int(500, Math.round(500 + 3_500 * scale));
    case 'pause':
      return config.pauseMs;
    case 'redis-restart-empty':
    case 'redis-restart-aof':
      return random.int(300, Math.round(300 + 2_200 * scale));
    case 'partition':
      return random.int(1_500, Math.round(1_500 + 6_500 * scale));
    case 'subscriber-drop':
      return 0;
  }
}
