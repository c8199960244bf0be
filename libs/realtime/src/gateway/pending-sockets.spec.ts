import { createServer, type Server } from 'node:http';
import { connect, Socket, type AddressInfo } from 'node:net';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { PendingSockets } from './pending-sockets';

interface SilentClient {
  socket: Socket;
  opened: number;
  /** When the socket closed (ms since the epoch). */
  closed: Promise<number>;
}

/** A client socket that connects and never sends a byte. */
function silentClient(port: number): SilentClient {
  const opened = Date.now();
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
  return { socket, opened, closed };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('PendingSockets', () => {
  let server: Server;
  let pending: PendingSockets;
  let port: number;

  /** Requests the server has been handed (headers parsed). */
  let requests = 0;

  async function start(handshakeTimeoutMs: number): Promise<void> {
    requests = 0;
    // An app that reads every body before it answers, but on /early, where it answers at once.
    server = createServer((req, res) => {
      requests++;
      if (req.url === '/early') return void res.end('early');
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    // Long HTTP timeouts: only PendingSockets may close the silent sockets here.
    const options = resolveRealtimeOptions({
      limits: {
        handshakeTimeoutMs,
        headersTimeoutMs: 60_000,
        requestTimeoutMs: 60_000,
        maxPendingPerIp: 3,
      },
    });
    pending = new PendingSockets(server, options);
    pending.attach();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }

  afterEach(async () => {
    pending.detach();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('destroys each silent socket once its own timeout has passed, never before', async () => {
    const timeoutMs = 300;
    await start(timeoutMs);
    const first = silentClient(port);
    // The second is accepted while the first waits: a later deadline on the same timer.
    await new Promise((resolve) => setTimeout(resolve, timeoutMs / 2));
    const second = silentClient(port);
    const [firstClosed, secondClosed] = await Promise.all([first.closed, second.closed]);
    expect(firstClosed - first.opened).toBeGreaterThanOrEqual(timeoutMs);
    expect(secondClosed - second.opened).toBeGreaterThanOrEqual(timeoutMs);
    expect(pending.pendingFor('127.0.0.1')).toBe(0);
  });

  it('destroys the socket one too many from an address at once, and counts a closed one out', async () => {
    await start(60_000);
    const clients = [0, 1, 2, 3].map(() => silentClient(port));
    // Whichever the server accepted fourth is destroyed at once; the others stay pending.
    const refused = await Promise.race(clients.map((c, i) => c.closed.then(() => i)));
    expect(pending.refused).toBe(1);
    const waiting = clients.filter((_, i) => i !== refused);
    await until(() => pending.pendingFor('127.0.0.1') === 3);
    waiting[0].socket.destroy();
    await until(() => pending.pendingFor('127.0.0.1') === 2);
    for (const client of waiting) client.socket.destroy();
    await until(() => pending.pendingFor('127.0.0.1') === 0);
  });

  /** A socket that sends `head` and what follows of the request at once, the rest later. */
  function slowBody(head: string): { socket: Socket; answered: () => Promise<string> } {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(head);
    const answered = () =>
      new Promise<string>((resolve) => socket.once('data', (data) => resolve(data.toString())));
    return { socket, answered };
  }
  const POST_TEN_BYTES = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nA';

  it('counts a request whose body is still arriving until the body is in (slow POST)', async () => {
    await start(60_000);
    const slow = slowBody(POST_TEN_BYTES);
    await until(() => requests === 1);
    const silent = [0, 1].map(() => silentClient(port));
    await until(() => pending.pendingFor('127.0.0.1') === 3);
    // The slow body holds a place: one more socket is one too many.
    const extra = silentClient(port);
    await extra.closed;
    expect(pending.refused).toBe(1);

    const answer = slow.answered();
    slow.socket.write('123456789');
    expect(await answer).toMatch(/^HTTP\/1.1 200/);
    await until(() => pending.pendingFor('127.0.0.1') === 2);
    for (const client of [slow, ...silent]) client.socket.destroy();
    await until(() => pending.pendingFor('127.0.0.1') === 0);
  });

  it('counts a slow body on a kept-alive socket as well, and a bodiless request not at all', async () => {
    await start(60_000);
    const client = slowBody('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await client.answered()).toMatch(/^HTTP\/1.1 200/);
    expect(pending.pendingFor('127.0.0.1')).toBe(0);

    client.socket.write(POST_TEN_BYTES);
    await until(() => requests === 2);
    expect(pending.pendingFor('127.0.0.1')).toBe(1);
    const answer = client.answered();
    client.socket.write('123456789');
    await answer;
    await until(() => pending.pendingFor('127.0.0.1') === 0);
    client.socket.destroy();
  });

  it('keeps a body counted that the app answered before reading, until it is all in', async () => {
    await start(60_000);
    const slow = slowBody(POST_TEN_BYTES.replace('POST /', 'POST /early'));
    expect(await slow.answered()).toMatch(/^HTTP\/1.1 200/);
    // Answered, but the client still sends the body it announced (Node reads and drops it).
    expect(pending.pendingFor('127.0.0.1')).toBe(1);
    slow.socket.write('123456789');
    await until(() => pending.pendingFor('127.0.0.1') === 0);
    slow.socket.destroy();
  });

  it('lets the app answer a kept-alive request over the cap, then ends its socket', async () => {
    await start(60_000);
    const client = slowBody('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await client.answered()).toMatch(/^HTTP\/1.1 200/);
    const silent = [0, 1, 2].map(() => silentClient(port));
    await until(() => pending.pendingFor('127.0.0.1') === 3);

    client.socket.write(POST_TEN_BYTES);
    await until(() => requests === 2);
    // Handed to the app already: counted over the cap, not destroyed under it.
    expect(pending.pendingFor('127.0.0.1')).toBe(4);
    const ended = new Promise((resolve) => client.socket.once('end', resolve));
    const answer = client.answered();
    client.socket.write('123456789');
    expect(await answer).toMatch(/^HTTP\/1.1 200[\s\S]*Connection: close/i);
    await ended;
    for (const other of silent) other.socket.destroy();
    await until(() => pending.pendingFor('127.0.0.1') === 0);
  });

  it('counts each pipelined request, not only the first of its socket', async () => {
    await start(60_000);
    const small = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx';
    const client = slowBody(small + POST_TEN_BYTES);
    await until(() => requests === 2);
    // The first is in and answered; the second's body is still on its way.
    await until(() => pending.pendingFor('127.0.0.1') === 1);
    client.socket.write('123456789');
    await until(() => pending.pendingFor('127.0.0.1') === 0);
    client.socket.destroy();
  });

  it('cuts off a kept-alive body over the cap that is still arriving after the handshake time', async () => {
    const timeoutMs = 300;
    await start(timeoutMs);
    const client = slowBody('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await client.answered()).toMatch(/^HTTP\/1.1 200/);
    const silent = [0, 1, 2].map(() => silentClient(port));
    await until(() => pending.pendingFor('127.0.0.1') === 3);
    const closed = new Promise((resolve) => client.socket.once('close', resolve));
    client.socket.write(POST_TEN_BYTES);
    await closed;
    // Its app never got the whole body, so it never answered.
    expect(requests).toBe(2);
    await Promise.all(silent.map((other) => other.closed));
    await until(() => pending.pendingFor('127.0.0.1') === 0);
  });

  it('counts the addresses of one IPv6 /64 as one client, as the connection limits do', async () => {
    await start(60_000);
    // Loopback has one IPv6 address, so the sockets come from no network: real sockets, never
    // connected, each given its peer address, handed to the server as it hands accepted ones.
    const fromAddress = (address: string): Socket => {
      const socket = new Socket();
      Object.defineProperty(socket, 'remoteAddress', { value: address });
      server.emit('connection', socket);
      return socket;
    };
    const sameHost = Array.from({ length: 5 }, (_, i) => fromAddress(`2001:db8::${i + 1}`));
    expect(sameHost.map((socket) => socket.destroyed)).toEqual([false, false, false, true, true]);
    expect(pending.refused).toBe(2);
    expect(pending.pendingFor('2001:db8::ffff')).toBe(3);
    // Another /64 is another client.
    expect(fromAddress('2001:db8:0:1::1').destroyed).toBe(false);
    for (const socket of sameHost) socket.destroy();
    await until(() => pending.pendingFor('2001:db8::1') === 0);
  });
});
