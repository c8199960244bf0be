import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/free-port';
import { requestJson } from '../support/http';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');
const FRESH_APP = join(__dirname, 'fresh-app');
/** What the app installs besides the three tarballs: what a Nest app with the packages needs. */
const APP_DEPENDENCIES = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/platform-express',
  '@nestjs/platform-ws',
  '@nestjs/websockets',
  'class-transformer',
  'class-validator',
  'reflect-metadata',
  'rxjs',
  'ws',
];
const APP_DEV_DEPENDENCIES = ['@types/node', '@types/ws', 'typescript'];

/** The version this repository installed: the one its own tests ran against, in the npm cache. */
function installed(name: string): string {
  const manifest = join(root, 'node_modules', name, 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

function versions(names: string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, installed(name)]));
}

/** npm's settings from the `npm test` that runs Jest would point npm at this repository. */
function withoutNpmSettings(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')),
  );
}

/** A process of the fresh app; its output is kept, and `line` waits for a line of it. */
class AppProcess {
  output = '';
  readonly exited: Promise<unknown>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = once(child, 'exit');
  }

  async line(wanted: (line: string) => boolean, ms = 20_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.output.split('\n').find(wanted);
      if (found !== undefined) return found;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no such line (exit ${this.child.exitCode}):\n${this.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}

/**
 * The packages as a team outside this repository gets them: built and packed
 * (`node tools/build-packages.mjs --pack`), installed from the tarballs into a
 * fresh Nest app in a temporary folder, with its own package.json, its own
 * TypeScript and no path alias. The app (test/packages/fresh-app) compiles
 * against the packages' type declarations, and a Node service using the
 * client package gets what a domain service publishes.
 */
describe('the packed packages, installed in a fresh Nest app', () => {
  let work: string;
  let app: string;
  let server: AppProcess | undefined;
  let port: number;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'nest-realtime-packages-'));
    const tarballs = join(work, 'tarballs');
    await run(process.execPath, [join(root, 'tools', 'build-packages.mjs'), '--pack', tarballs], {
      cwd: root,
    });
    app = join(work, 'app');
    mkdirSync(app);
    cpSync(join(FRESH_APP, 'src'), join(app, 'src'), { recursive: true });
    cpSync(join(FRESH_APP, 'tsconfig.app.json'), join(app, 'tsconfig.json'));
    const tarball = (name: string) => `file:${join(tarballs, `nest-realtime-${name}-0.1.0.tgz`)}`;
    const manifest = {
      name: 'fresh-nest-app',
      private: true,
      dependencies: {
        '@nest-realtime/server': tarball('server'),
        '@nest-realtime/client': tarball('client'),
        '@nest-realtime/protocol': tarball('protocol'),
        ...versions(APP_DEPENDENCIES),
      },
      devDependencies: versions(APP_DEV_DEPENDENCIES),
    };
    writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2));
    // From the npm cache where it can (this repository installed the same versions).
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: app,
      env: withoutNpmSettings(),
    });
    await run(
      process.execPath,
      [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
      {
        cwd: app,
      },
    );
    port = await freePort();
    server = new AppProcess(
      spawn(process.execPath, ['dist/main.js'], {
        cwd: app,
        env: { ...withoutNpmSettings(), PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    await server.line((line) => line === 'listening');
  }, 240_000);

  afterAll(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs each package with its own manifest, entry point and type declarations', () => {
    for (const name of ['server', 'client', 'protocol']) {
      const folder = join(app, 'node_modules', '@nest-realtime', name);
      const pkg = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as {
        version: string;
        exports: { '.': { types: string; default: string } };
      };
      expect(pkg.version).toMatch(/^0\.\d+\.\d+$/);
      expect(readFileSync(join(folder, pkg.exports['.'].types), 'utf8')).toContain('export');
      expect(readFileSync(join(folder, pkg.exports['.'].default), 'utf8')).toContain('exports');
      expect(readFileSync(join(folder, 'CHANGELOG.md'), 'utf8')).toContain(pkg.version);
    }
  });

  it('delivers what a domain service publishes to a socket that subscribed with the client package', async () => {
    const subscriber = new AppProcess(
      spawn(process.execPath, ['dist/subscriber.js'], {
        cwd: app,
        env: { ...withoutNpmSettings(), REALTIME_URL: `ws://127.0.0.1:${port}/ws` },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    try {
      await subscriber.line((line) => line === 'subscribed');
      const created = await requestJson(`http://127.0.0.1:${port}/orders`, 'POST', {
        item: 'tea',
      });
      expect(created).toMatchObject({ status: 201, body: { id: '1', item: 'tea' } });
      const received = await subscriber.line((line) => line.startsWith('{'));
      expect(JSON.parse(received)).toEqual({
        type: 'order.created',
        order: { id: '1', item: 'tea' },
      });
    } finally {
      await subscriber.stop();
    }
  });
});
