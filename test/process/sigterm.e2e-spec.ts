import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { freePort } from '../support/free-port';
import { connect, tryConnect } from '../support/ws-client';

const root = join(__dirname, '..', '..');

async function waitForHealth(port: number, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('demo did not become healthy');
}

/**
 * The real process, as `npm run start:prod` runs it: SIGTERM closes every
 * socket with 1001 and the process exits 0.
 */
describe('demo process shutdown on SIGTERM', () => {
  let child: ChildProcess | undefined;
  let output = '';

  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('closes clients with 1001, refuses new handshakes and exits 0', async () => {
    const port = await freePort();
    child = spawn(process.execPath, [join(root, 'dist', 'src', 'main.js')], {
      cwd: root,
      env: { ...process.env, PORT: String(port), NODE_ENV: 'development' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitForHealth(port, 20_000);

    const clients = await Promise.all([1, 2, 3].map(() => connect(`ws://127.0.0.1:${port}/ws`)));
    const exited = once(child, 'exit');
    child.kill('SIGTERM');

    const closes = await Promise.all(clients.map((c) => c.closed));
    expect(closes.map((c) => c.code)).toEqual([1001, 1001, 1001]);
    const late = await tryConnect(`ws://127.0.0.1:${port}/ws`);
    expect(late.kind).not.toBe('open');
    const [code, signal] = (await exited) as [number | null, string | null];
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(output).not.toMatch(/ERROR/);
  }, 60_000);
});
