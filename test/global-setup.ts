import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Builds the demo once per test run (`nest build` → dist/src/main.js), for the
 * suites that run it as a real process (SIGTERM, several instances on one
 * Redis, crashes). One build, before any worker starts: suites never race on dist/.
 */
export default function buildDemo(): void {
  execFileSync('npx', ['nest', 'build'], { cwd: join(__dirname, '..'), stdio: 'pipe' });
}
