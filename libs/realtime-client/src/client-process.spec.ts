import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

interface Exit {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * What only a Node process of its own shows: an unhandled `error` event ends
 * it, and a timer left armed keeps it running. Each scenario runs the bundled
 * client against a server in the same child, and must end by itself once both
 * are closed.
 */
describe('RealtimeClient in a Node process of its own', () => {
  let dir: string;
  let clientPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'realtime-client-'));
    clientPath = join(dir, 'client.js');
    await build({
      entryPoints: [join(ROOT, 'libs/realtime-client/src/index.ts')],
      absWorkingDir: ROOT,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      tsconfig: join(ROOT, 'tsconfig.json'),
      outfile: clientPath,
      logLevel: 'silent',
    });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Runs `scenario` with `RealtimeClient`, `WebSocket` (ws) and `net` in scope;
   * rejects when the process is still running after `ms`.
   */
  function runAlone(scenario: string, ms = 10_000): Promise<Exit> {
    const script = [
      `const { RealtimeClient } = require(${JSON.stringify(clientPath)});`,
      `const WebSocket = require(${JSON.stringify(require.resolve('ws'))});`,
      `const net = require('node:net');`,
      scenario,
    ].join('\n');
    return new Promise((resolve, reject) => {
      execFile(process.execPath, ['-e', script], { timeout: ms }, (error, stdout, stderr) => {
        if (error?.killed) {
          reject(new Error(`still running after ${ms} ms\n${stdout}${stderr}`));
        } else {
          resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
        }
      });
    });
  }

  /** A TCP server that accepts and never answers the upgrade: the client stays in its handshake. */
  const SILENT_SERVER = `
    const held = [];
    const server = net.createServer((socket) => { held.push(socket); onHandshake(); });
    const stopServer = () => { for (const socket of held) socket.destroy(); server.close(); };
  `;

  it('survives close() while the handshake is under way', async () => {
    const exit = await runAlone(`
      ${SILENT_SERVER}
      let client;
      const onHandshake = () => { client.close(); stopServer(); };
      server.listen(0, '127.0.0.1', () => {
        client = new RealtimeClient({ url: 'ws://127.0.0.1:' + server.address().port + '/ws', WebSocket });
        client.on('state', (state) => console.log(state));
        client.connect();
      });
    `);
    expect(exit).toEqual({ code: 0, stdout: 'connecting\nclosed\n', stderr: '' });
  });

  it('survives a connect timeout', async () => {
    const exit = await runAlone(`
      ${SILENT_SERVER}
      const onHandshake = () => undefined;
      server.listen(0, '127.0.0.1', () => {
        const client = new RealtimeClient({
          url: 'ws://127.0.0.1:' + server.address().port + '/ws',
          WebSocket,
          connectTimeoutMs: 100,
        });
        client.on('state', (state) => console.log(state));
        client.on('disconnected', ({ reason }) => { console.log(reason); client.close(); stopServer(); });
        client.connect();
      });
    `);
    expect(exit).toEqual({
      code: 0,
      stdout: 'connecting\ndisconnected\nconnect timeout\nclosed\n',
      stderr: '',
    });
  });

  /** A ws server that says `connected` with `data`, and closes itself when the client goes. */
  const wsServer = (connected: string, then: string) => `
    let connections = 0;
    const server = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0 }, start);
    server.on('connection', (socket) => {
      connections++;
      socket.send(JSON.stringify({ event: 'connected', data: ${connected} }));
      socket.on('close', () => server.close());
      ${then}
    });
    process.on('exit', () => console.log('connections', connections));
  `;

  it.each([
    ['a disconnected listener', `client.on('disconnected', () => client.close());`],
    [
      'a state listener',
      `client.on('state', (state) => { if (state === 'disconnected') client.close(); });`,
    ],
  ])('stays closed when %s calls close()', async (_, closeOnDisconnect) => {
    const exit = await runAlone(`
      ${wsServer(
        `{ connectionId: 'c', userId: null, heartbeatMs: 0, expiresAt: null }`,
        `socket.close(1012, 'service restart');`,
      )}
      function start() {
        const client = new RealtimeClient({
          url: 'ws://127.0.0.1:' + server.address().port + '/ws',
          WebSocket,
          backoff: { initialMs: 20 },
        });
        client.on('state', (state) => console.log(state));
        ${closeOnDisconnect}
        client.connect();
      }
    `);
    expect(exit).toEqual({
      code: 0,
      stdout: 'connecting\nconnected\ndisconnected\nclosed\nconnections 1\n',
      stderr: '',
    });
  });

  it.each([
    ['a connected listener', `client.on('connected', () => client.close());`],
    [
      'a state listener',
      `client.on('state', (state) => { if (state === 'connected') client.close(); });`,
    ],
  ])('leaves no heartbeat or token refresh armed when %s calls close()', async (_, closeOnUp) => {
    const exit = await runAlone(`
      ${wsServer(`{ connectionId: 'c', userId: 'ann', heartbeatMs: 50, expiresAt: Date.now() + 60000 }`, '')}
      function start() {
        const reasons = [];
        const client = new RealtimeClient({
          url: 'ws://127.0.0.1:' + server.address().port + '/ws',
          WebSocket,
          getToken: (reason) => { reasons.push(reason); return 'token'; },
        });
        client.on('state', (state) => console.log(state));
        ${closeOnUp}
        process.on('exit', () => console.log('getToken', reasons.join(' ')));
        client.connect();
      }
    `);
    expect(exit).toEqual({
      code: 0,
      stdout: 'connecting\nconnected\nclosed\nconnections 1\ngetToken connect\n',
      stderr: '',
    });
  });
});
