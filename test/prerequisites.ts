import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

/**
 * Fails the run at once, naming the command to run, when the machine lacks
 * what `suite` needs (redis-server, Chromium): tools/test-prerequisites.mjs,
 * which `npm test` runs first with --install.
 */
export function checkPrerequisites(suite: 'unit' | 'e2e'): void {
  try {
    execFileSync(process.execPath, [join(ROOT, 'tools', 'test-prerequisites.mjs'), suite], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'pipe'],
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(stderr || String(error), { cause: error });
  }
}
