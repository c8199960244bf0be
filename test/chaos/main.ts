import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { chaosReport } from './chaos-report';
import { parseChaosArgs, USAGE } from './chaos-config';
import { runChaos } from './run-chaos';

/**
 * `npm run chaos`: builds the demo, then runs this (bundled by esbuild).
 * Prints the run's markdown table; exits 1 on any violation.
 */
async function main(): Promise<void> {
  // Ctrl-C: exit through 'exit', where the run kills the processes it started.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => process.exit(130));
  const config = parseChaosArgs(process.argv.slice(2));
  if (config === 'help') {
    console.log(USAGE);
    return;
  }
  const loadBefore = loadavg()[0];
  const result = await runChaos(config, (line) => console.log(line));
  const machine = `${cpus().length} vCPU, load average ${loadBefore.toFixed(1)} before the run`;
  console.log(`\n${chaosReport(result, machine)}\n`);
  if (!result.ok) {
    const dir = join('test-output', `chaos-${config.seed}`);
    mkdirSync(dir, { recursive: true });
    result.logs.forEach((log, i) => writeFileSync(join(dir, `instance-${'ABC'[i]}.log`), log));
    console.log(`chaos: VIOLATIONS (see above; instance logs in ${dir}/)`);
  } else console.log('chaos: every promise held');
  process.exitCode = result.ok ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error('chaos: the run itself failed', error);
  process.exit(2);
});
