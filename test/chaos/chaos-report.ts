import type { ChaosResult } from './run-chaos';

const n = (value: number) => value.toLocaleString('en-US');
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/** The run as markdown: the summary table docs/guarantees.md shows, the fault timeline, and any violation. */
export function chaosReport(result: ChaosResult, machine: string): string {
  const { config, topics, notifications: offline, revocations, published, ledger } = result;
  const start = Math.min(...result.faults.map((f) => f.startedAt));
  const kinds = new Map<string, number>();
  for (const fault of result.faults) kinds.set(fault.kind, (kinds.get(fault.kind) ?? 0) + 1);
  const faultSummary = [...kinds].map(([kind, count]) => `${kind} ×${count}`).join(', ');
  const confirmed = published.orders + published.inventory + published.chat;
  const closes = ledger.closes
    .entries()
    .map(([code, count]) => `${code} ×${n(count)}`)
    .join(', ');
  const refusals = ledger.refusals
    .entries()
    .map(([status, count]) => `${status} ×${n(count)}`)
    .join(', ');
  const heap = result.resources
    .map((r, i) => `${'ABC'[i]} ${mb(r.heapBaseline)} → ${mb(r.heapAfter)} MB`)
    .join(', ');
  const rows: Array<[string, string]> = [
    ['seed, clients (users)', `${config.seed}, ${n(result.clients)} (${n(result.users)})`],
    [
      'setup',
      `3 demo instances (child processes), one redis-server (AOF on), loopback; ${machine}`,
    ],
    [
      'chaos phase (wall time of the run)',
      `${config.durationMs / 1000} s (${Math.round(result.wallMs / 1000)} s)`,
    ],
    ['faults injected', `${result.faults.length}: ${faultSummary}`],
    [
      'revocations',
      `${revocations.users} users; ${revocations.clientsClosed} clients closed everywhere, ${revocations.slowestMs <= 0 ? 'each before the revoke returned' : `at most ${n(revocations.slowestMs)} ms after the revoke returned`} (${n(revocations.slowestAfterFaultMs)} ms where a fault was in the way)`,
    ],
    [
      'messages published (confirmed)',
      `${n(confirmed)}: ${n(published.orders)} orders (REST), ${n(published.inventory)} stock levels (REST), ${n(published.chat)} chat (client publish); ${n(published.failed)} refused during outages`,
    ],
    ['delivered', n(topics.delivered)],
    ['recovered (replayed after `since`)', n(topics.recovered)],
    [
      'resynced (`recovered: false`)',
      `${n(topics.resyncs)} answers, covering ${n(topics.coveredByResync)} messages`,
    ],
    ['**lost** (a gap without `recovered: false`)', `**${n(topics.lost)}**`],
    ['duplicates / out of order', `${n(topics.duplicates)} / ${n(topics.outOfOrder)}`],
    [
      'offline notifications',
      `${n(offline.sent)} sent: ${n(offline.acked)} acknowledged, ${n(offline.deadLettered)} dead-lettered, ${n(offline.erased)} erased by a Redis restart without persistence; ${n(offline.redelivered)} redeliveries`,
    ],
    [
      'connections opened',
      `${n(ledger.connections)}; closes ${closes}; refusals ${refusals || 'none'}`,
    ],
    ['heap after the clients left (after GC)', heap],
    [
      'Redis keys',
      `${n(result.keys.baseline)} before the clients, ${n(result.keys.after)} after (${result.keys.entityKeys.length} naming a user, room or SKU)`,
    ],
    ['**violations**', `**${n(ledger.violations.total)}**`],
  ];
  const lines = [
    '| measure | value |',
    '| --- | --- |',
    ...rows.map(([name, value]) => `| ${name} | ${value} |`),
    '',
    '| at (s) | fault | target | down (ms) |',
    '| --- | --- | --- | --- |',
    ...result.faults.map(
      (f) =>
        `| ${((f.startedAt - start) / 1000).toFixed(1)} | ${f.kind} | ${f.target === undefined ? '—' : 'ABC'[f.target]} | ${f.endedAt === undefined ? '—' : n(f.endedAt - f.startedAt)} |`,
    ),
  ];
  if (ledger.violations.total > 0) {
    lines.push('', '| violation | count |', '| --- | --- |');
    for (const [kind, count] of ledger.violations.byKind()) lines.push(`| ${kind} | ${n(count)} |`);
    lines.push('', ...ledger.violations.details().map((v) => `- ${v.kind}: ${v.detail}`));
  }
  lines.push(
    '',
    `Redis keys left: ${result.keys.shapes.map(([shape, count]) => `\`${shape}\` ×${count}`).join(', ')}.`,
  );
  const errors = ledger.clientErrors.entries();
  const failures = ledger.httpFailures.entries();
  if (errors.length + failures.length > 0) {
    lines.push(
      '',
      `Errors clients got (by code): ${errors.map(([code, count]) => `${code} ×${n(count)}`).join(', ') || 'none'}.`,
      `HTTP calls that failed: ${failures.map(([what, count]) => `${what} ×${n(count)}`).join(', ') || 'none'}.`,
    );
  }
  return lines.join('\n');
}
