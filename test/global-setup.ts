import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { checkPrerequisites } from './prerequisites';

/**
 * Checks the machine (redis-server, Chromium), then builds the demo once per
 * test run (`nest build` → dist/src/main.js), for the suites that run it as a
 * real process (SIGTERM, several instances on one Redis, crashes), and its
 * page (`npm run build:web` → dist-web/). One build, before any worker
 * starts: suites never race on dist/.
 */
export default function buildDemo(): void {
  checkPrerequisites('e2e');
  const cwd = join(__dirname, '..');
  execFileSync('npx', ['nest', 'build'], { cwd, stdio: 'pipe' });
  execFileSync('npm', ['run', 'build:web'], { cwd, stdio: 'pipe' });
}
