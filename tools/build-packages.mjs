// Builds the three packages (libs/realtime-protocol, libs/realtime, libs/realtime-client)
// into each one's dist/, the wire package first since the others compile against its types;
// with `--pack <dir>`, also packs each into <dir> as npm would publish it.
// Usage: node tools/build-packages.mjs [--pack <dir>]
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** In build order: each package compiles against the declarations of those before it. */
const PACKAGES = ['libs/realtime-protocol', 'libs/realtime', 'libs/realtime-client'];
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

for (const folder of PACKAGES) {
  rmSync(join(root, folder, 'dist'), { recursive: true, force: true });
  try {
    execFileSync(process.execPath, [tsc, '-p', join(root, folder, 'tsconfig.build.json')], {
      cwd: root,
      stdio: 'inherit',
    });
  } catch {
    console.error(`building ${folder} failed (the compiler's errors are above)`);
    process.exit(1);
  }
}

const pack = process.argv.indexOf('--pack');
if (pack !== -1) {
  const destination = resolve(process.argv[pack + 1] ?? 'packages');
  mkdirSync(destination, { recursive: true });
  for (const folder of PACKAGES) {
    execFileSync('npm', ['pack', '--silent', '--pack-destination', destination], {
      cwd: join(root, folder),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  console.log(`packed into ${destination}`);
}
