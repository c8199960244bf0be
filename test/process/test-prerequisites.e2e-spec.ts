import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(__dirname, '..', '..', 'tools', 'test-prerequisites.mjs');
/** Root runs the unprivileged case as `nobody` (util-linux's runuser keeps the environment). */
const runuser = () => execFileSync('sh', ['-c', 'command -v runuser'], { encoding: 'utf8' }).trim();

/** Runs the check the way `npm test` does (or without --install), as root or as `nobody`. */
function check(
  args: string[],
  env: NodeJS.ProcessEnv,
  { unprivileged = false } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const asNobody = unprivileged && process.getuid?.() === 0;
  const [command, ...rest] = asNobody
    ? [runuser(), '-u', 'nobody', '--', process.execPath, SCRIPT, ...args]
    : [process.execPath, SCRIPT, ...args];
  return new Promise((resolve) => {
    execFile(command, rest, { env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * `npm install && npm test` on a machine with Node but without what the tests
 * drive: the check before the tests installs it where it can and otherwise
 * stops at once, naming the command, instead of failing deep in a suite.
 */
describe('tools/test-prerequisites.mjs', () => {
  let bare: string;

  beforeAll(() => {
    // A PATH with node alone: no redis-server, no apt-get.
    bare = mkdtempSync(join(tmpdir(), 'bare-path-'));
    symlinkSync(process.execPath, join(bare, 'node'));
  });
  afterAll(() => rmSync(bare, { recursive: true, force: true }));

  it('passes on this machine, which has redis-server and Chromium', async () => {
    expect(await check(['all', '--install'], {})).toMatchObject({ code: 0, stderr: '' });
  });

  it('stops at once when REALTIME_CHROMIUM names a browser that is not there', async () => {
    const result = await check(['e2e', '--install'], { REALTIME_CHROMIUM: join(bare, 'chromium') });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Chromium (${join(bare, 'chromium')})`);
    expect(result.stderr).toContain('REALTIME_CHROMIUM names a browser that is not there');
  });

  it('names the command to run when it may not install (not root)', async () => {
    const result = await check(['unit', '--install'], { PATH: bare }, { unprivileged: true });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('- redis-server');
    expect(result.stderr).toContain('sudo apt-get install -y redis-server');
  });

  it('names the command to run when it cannot install (no apt-get)', async () => {
    const result = await check(['unit', '--install'], { PATH: bare });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Install them: (sudo )?apt-get install -y redis-server/);
  });

  it('checks only what the suite needs: the unit tests need no browser', async () => {
    const result = await check(['unit'], { REALTIME_CHROMIUM: join(bare, 'chromium') });
    expect(result.code).toBe(0);
  });
});
