// What the tests need besides node_modules, checked before they start:
//   redis-server  the Redis-mode tests start their own (unit and e2e); the Redis Cluster and
//                 Sentinel ones start clusters (`--cluster-enabled yes`, `--sentinel`): Redis 7+
//   redis-cli     joins those nodes into a cluster (`redis-cli --cluster create`)
//   Chromium      test/client/demo-page.e2e-spec.ts drives the demo page in it (e2e): Debian's
//                 package at /usr/bin/chromium, or REALTIME_CHROMIUM; never a downloaded build
//
// Usage: node tools/test-prerequisites.mjs [unit|e2e|all] [--install]
// With --install (what `npm test` does), what is missing is installed where that is possible
// (root with apt-get: Chromium takes about 20 s). Whatever is still missing fails at once,
// with the command that installs it.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const DEBIAN_CHROMIUM = '/usr/bin/chromium';

function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => executable(join(dir, command)));
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const chromium = process.env.REALTIME_CHROMIUM || DEBIAN_CHROMIUM;
const NEEDS = [
  {
    name: 'redis-server',
    suites: ['unit', 'e2e'],
    present: () => onPath('redis-server'),
    debianPackage: 'redis-server',
  },
  {
    name: 'redis-cli',
    suites: ['unit', 'e2e'],
    present: () => onPath('redis-cli'),
    debianPackage: 'redis-tools',
  },
  {
    name: `Chromium (${chromium})`,
    suites: ['e2e'],
    present: () => executable(chromium),
    // Debian's package puts it at /usr/bin/chromium; another path is the user's own browser.
    debianPackage: chromium === DEBIAN_CHROMIUM ? 'chromium' : undefined,
  },
];

const suite = process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? 'all';
const needed = NEEDS.filter((need) => suite === 'all' || need.suites.includes(suite));
let missing = needed.filter((need) => !need.present());

if (missing.length > 0 && process.argv.includes('--install') && canInstall(missing)) {
  const packages = missing.map((need) => need.debianPackage);
  console.log(`tests need ${packages.join(', ')}: installing with apt-get…`);
  try {
    const quiet = {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    };
    execFileSync('apt-get', ['update', '-qq'], quiet);
    execFileSync('apt-get', ['install', '-y', '-qq', ...packages], quiet);
  } catch {
    console.error('apt-get could not install them.');
  }
  missing = needed.filter((need) => !need.present());
}

if (missing.length > 0) {
  const packages = missing.map((need) => need.debianPackage).filter(Boolean);
  const lines = missing.map((need) => `  - ${need.name}`);
  if (packages.length > 0) {
    const install = `apt-get install -y ${packages.join(' ')}`;
    lines.push(
      process.getuid?.() === 0
        ? `Install them: ${install}`
        : `Install them: sudo ${install}   (npm test installs them itself when run as root)`,
    );
  }
  if (missing.some((need) => need.debianPackage === undefined)) {
    lines.push(
      `REALTIME_CHROMIUM names a browser that is not there: fix it, or unset it for ${DEBIAN_CHROMIUM}.`,
    );
  }
  console.error(`The tests need what this machine does not have:\n${lines.join('\n')}`);
  process.exit(1);
}

function canInstall(missing) {
  return (
    process.getuid?.() === 0 &&
    onPath('apt-get') &&
    missing.every((need) => need.debianPackage !== undefined)
  );
}
