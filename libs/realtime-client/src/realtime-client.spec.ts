import { once } from 'node:events';
// The module's own timers: jest's fake timers replace only the globals, so these bound real waits.
import { clearTimeout as clearRealTimeout, setTimeout as setRealTimeout } from 'node:timers';
import WebSocket, { type ServerOptions, WebSocketServer } from 'ws';
import { RealtimeClient } from './realtime-client';
import type { ConnectedInfo, RealtimeClientOptions, Subscription, TokenReason } from './types';

interface Frame {
  event: string;
  data: any;
}

/** Resolves as `promise` does, or rejects once `ms` of real time have passed. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setRealTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearRealTimeout(timer));
}

/** A scripted server on loopback: the test says what it sends; it records what it receives. */
class StubServer {
  readonly received: Frame[] = [];
  private readonly sockets = new Set<WebSocket>();

  private constructor(private readonly server: WebSocketServer) {}

  static async start(
    serve: (socket: WebSocket, frames: Frame[]) => void,
    options: ServerOptions = {},
  ): Promise<StubServer> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
    await once(server, 'listening');
    const stub = new StubServer(server);
    server.on('connection', (socket: WebSocket) => {
      stub.sockets.add(socket);
      socket.on('message', (raw: Buffer) => {
        stub.received.push(JSON.parse(raw.toString()) as Frame);
      });
      serve(socket, stub.received);
    });
    return stub;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as { port: number }).port}/ws`;
  }

  /** The topics of every `subscribe` frame received, one list per frame. */
  subscribes(): string[][] {
    return this.received
      .filter(({ event }) => event === 'subscribe')
      .map(({ data }) => data.topics);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

function send(socket: WebSocket, event: string, data: object): void {
  socket.send(JSON.stringify({ event, data }));
}

function greet(socket: WebSocket, info: Partial<ConnectedInfo> = {}): void {
  send(socket, 'connected', {
    connectionId: 'c1',
    userId: 'ann',
    heartbeatMs: 0,
    expiresAt: null,
    ...info,
  });
}

/** Answers `subscribe` and `ping` as the server does, once `refuse` stops refusing subscribes. */
function answer(socket: WebSocket, refuse: () => boolean = () => false): void {
  socket.on('message', (raw: Buffer) => {
    const { event, data } = JSON.parse(raw.toString()) as Frame;
    if (event === 'ping') send(socket, 'pong', { ref: data.ref, ts: 1 });
    if (event !== 'subscribe') return;
    if (refuse()) {
      send(socket, 'error', {
        ref: data.ref,
        code: 'RATE_LIMITED',
        message: 'too many subscription changes',
      });
    } else {
      const topics = (data.topics as string[]).map((topic) => ({ topic, offset: '1-0' }));
      send(socket, 'subscribed', { ref: data.ref, topics });
    }
  });
}

/** The first `count` subscribe frames are refused without a topic, as a rate limit does. */
function refusingFirst(count: number): () => boolean {
  let seen = 0;
  return () => ++seen <= count;
}

describe('RealtimeClient against a scripted server', () => {
  let server: StubServer;
  const clients: RealtimeClient[] = [];

  function client(options: Partial<RealtimeClientOptions> = {}): RealtimeClient {
    const created = new RealtimeClient({
      url: server.url,
      WebSocket,
      backoff: { initialMs: 20, maxMs: 100, throttledMs: 50 },
      ...options,
    });
    clients.push(created);
    return created;
  }

  function connected(target: RealtimeClient): Promise<ConnectedInfo> {
    return within(new Promise((resolve) => target.on('connected', resolve)), 2_000, 'connected');
  }

  afterEach(async () => {
    for (const created of clients.splice(0)) created.close();
    await server.stop();
  });

  describe('a subscribe refused without a topic (RATE_LIMITED)', () => {
    it('sends again every refused frame, not only the last', async () => {
      server = await StubServer.start((socket) => {
        greet(socket);
        answer(socket, refusingFirst(3));
      });
      const ann = client();
      const up = connected(ann);
      ann.connect();
      await up;
      // Connected: each goes out in a frame of its own, the first three refused.
      const subscriptions = ['a', 'b', 'c', 'd', 'e', 'f'].map((topic) =>
        ann.subscribe(topic, () => undefined),
      );

      await within(Promise.all(subscriptions.map(({ ready }) => ready)), 2_000, 'all ready');
      expect(server.subscribes().flat().sort()).toEqual(
        ['a', 'b', 'c', 'd', 'e', 'f', 'a', 'b', 'c'].sort(),
      );
    });

    it('sends again both frames of a restore refused (presence and plain topics)', async () => {
      server = await StubServer.start((socket) => {
        greet(socket);
        answer(socket, refusingFirst(2));
      });
      const ann = client();
      const orders = ann.subscribe('orders', () => undefined);
      const chat = ann.subscribe('chat:1', () => undefined, { presence: true });
      ann.connect();

      await within(Promise.all([orders.ready, chat.ready]), 2_000, 'both ready');
      expect(server.subscribes()).toEqual([['orders'], ['chat:1'], ['orders'], ['chat:1']]);
    });
  });

  it('sends a topic subscribed in a connected listener once', async () => {
    server = await StubServer.start((socket) => {
      greet(socket);
      answer(socket);
    });
    const ann = client();
    let orders!: Subscription;
    ann.on('connected', () => {
      orders = ann.subscribe('orders', () => undefined);
    });
    const up = connected(ann);
    ann.connect();
    await up;
    await within(orders.ready, 2_000, 'ready');

    // The server reads in order: past the pong, it has read every frame sent before the ping.
    await within(ann.ping(), 2_000, 'pong');
    expect(server.subscribes()).toEqual([['orders']]);
  });

  describe('reconnecting', () => {
    it("asks getToken('expired') after a 4001 until a connection succeeds", async () => {
      let connections = 0;
      server = await StubServer.start((socket) => {
        greet(socket);
        if (++connections === 1) socket.close(4001, 'token expired');
      });
      const reasons: TokenReason[] = [];
      const ann = client({
        getToken: (reason) => {
          reasons.push(reason);
          if (reasons.length === 2) throw new Error('token backend blip');
          return 'token';
        },
      });
      const reconnected = new Promise<void>((resolve) =>
        ann.on('connected', () => {
          if (ann.stats.reconnects === 1) resolve();
        }),
      );
      ann.connect();

      await within(reconnected, 2_000, 'reconnected');
      expect(reasons).toEqual(['connect', 'expired', 'expired']);
    });

    it("does not take a refused handshake's status for a getToken failure after it", async () => {
      let handshakes = 0;
      server = await StubServer.start((socket) => greet(socket), {
        verifyClient: (_info, accept) => (++handshakes === 1 ? accept(false, 429) : accept(true)),
      });
      let calls = 0;
      const ann = client({
        getToken: () => {
          if (++calls === 2) throw new Error('token backend blip');
          return 'token';
        },
      });
      const statuses: Array<number | undefined> = [];
      ann.on('disconnected', ({ status }) => statuses.push(status));
      const up = connected(ann);
      ann.connect();

      await up;
      expect(statuses).toEqual([429, undefined]);
    });
  });

  describe('timing (fake timers over a real socket)', () => {
    const DAY_MS = 86_400_000;
    let refreshes: number[];

    beforeEach(() => {
      jest.useFakeTimers();
      refreshes = [];
    });

    afterEach(() => {
      jest.useRealTimers();
    });

    /** Connects with a token that expires at `expiresAt`; `refresh` is its getToken('refresh'). */
    async function connectUntil(
      expiresAt: number,
      refresh: () => string = () => 'token',
    ): Promise<RealtimeClient> {
      server = await StubServer.start((socket) => greet(socket, { expiresAt }));
      const ann = client({
        getToken: (reason) => {
          if (reason !== 'refresh') return 'token';
          refreshes.push(Date.now());
          return refresh();
        },
      });
      const up = connected(ann);
      ann.connect();
      await up;
      return ann;
    }

    it('waits for a token that expires in 30 days (past the longest setTimeout)', async () => {
      const expiresAt = Date.now() + 30 * DAY_MS;
      await connectUntil(expiresAt);

      await jest.advanceTimersByTimeAsync(1_000);
      expect(refreshes).toEqual([]);
      await jest.advanceTimersByTimeAsync(expiresAt - 30_000 - Date.now() - 1);
      expect(refreshes).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(refreshes).toEqual([expiresAt - 30_000]);
    });

    it('retries a failed refresh after 1 s, 2 s, 4 s… and not past expiresAt', async () => {
      const expiresAt = Date.now() + 60_000;
      await connectUntil(expiresAt, () => {
        throw new Error('token backend down');
      });

      await jest.advanceTimersByTimeAsync(expiresAt - Date.now());
      expect(refreshes.map((at) => expiresAt - at)).toEqual([
        30_000, 29_000, 27_000, 23_000, 15_000,
      ]);
      await jest.advanceTimersByTimeAsync(60_000);
      expect(refreshes).toHaveLength(5);
    });

    it('does not refresh a token its clock puts in the past (a clock far ahead)', async () => {
      await connectUntil(Date.now() - DAY_MS);

      await jest.advanceTimersByTimeAsync(60_000);
      expect(refreshes).toEqual([]);
    });

    it('probes a link one heartbeat after its last frame, not up to two', async () => {
      let peer!: WebSocket;
      server = await StubServer.start((socket) => {
        peer = socket;
        greet(socket, { heartbeatMs: 1_000 });
      });
      const ann = client();
      const up = connected(ann);
      ann.connect();
      await up;
      const probed = within(once(peer, 'ping'), 2_000, 'probe');

      await jest.advanceTimersByTimeAsync(400);
      const heard = new Promise((resolve) => ann.on('broadcast', resolve));
      send(peer, 'message', { topic: '$broadcast', type: 'news', payload: {}, ts: 1 });
      await within(heard, 2_000, 'broadcast');
      // Idle since 400 ms: the probe is due at 1400, where checking every second finds it at 2000.
      await jest.advanceTimersByTimeAsync(1_000);
      await probed;
    });
  });
});
