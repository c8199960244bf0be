import { cpus } from 'node:os';
import { chaosReport } from './chaos-report';
import { SHORT } from './chaos-config';
import { runChaos } from './run-chaos';

jest.setTimeout(300_000);

/**
 * The short variant of `npm run chaos` (docs/guarantees.md, "Measured"):
 * the same cluster, workload, fault kinds and checker, with 300 clients
 * for about half a minute of chaos.
 */
describe('chaos (short variant of npm run chaos)', () => {
  it('keeps every promise under overlapping faults: nothing lost, settled once, revoked everywhere, resources back', async () => {
    const result = await runChaos(SHORT);
    const report = chaosReport(result, `${cpus().length} vCPU`);
    // The whole table on failure: which promise broke, where, and what the run looked like.
    expect({ violations: result.ledger.violations.byKind(), report }).toEqual({
      violations: [],
      report,
    });
    expect(new Set(result.faults.map((fault) => fault.kind)).size).toBe(6);
    expect(result.topics.delivered).toBeGreaterThan(0);
    // The Redis restart without persistence made every held topic resync.
    expect(result.topics.resyncs).toBeGreaterThan(0);
    expect(result.revocations.clientsClosed).toBeGreaterThanOrEqual(SHORT.revocations);
    expect(result.notifications.sent).toBeGreaterThan(0);
  });
});
