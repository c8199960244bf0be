import type { IncomingHttpHeaders } from 'node:http';
import WebSocket, { type ClientOptions } from 'ws';

export interface Frame {
  event: string;
  data: Record<string, any>;
}

/** What a connection attempt ended with: open, an HTTP refusal, or a network error. */
export type ConnectResult =
  | { kind: 'open'; client: TestClient }
  | { kind: 'refused'; status: number; body: string; headers?: IncomingHttpHeaders }
  | { kind: 'error'; error: Error };

const DEFAULT_WAIT_MS = 5_000;

/**
 * A real `ws` client that keeps every frame it receives, so tests can wait for
 * a frame by predicate and assert on the whole sequence afterwards.
 */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => boolean> = [];
  private nextRef = 0;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      const text = isBinary ? '<binary>' : (data as Buffer).toString();
      this.raw.push(text);
      try {
        this.frames.push(JSON.parse(text) as Frame);
      } catch {
        this.frames.push({ event: '<unparsable>', data: { text } });
      }
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      }),
    );
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(event: string, data: Record<string, unknown> = {}): void {
    this.socket.send(JSON.stringify({ event, data }));
  }

  sendRaw(data: string | Buffer, options: { binary?: boolean } = {}): void {
    this.socket.send(data, { binary: options.binary ?? false });
  }

  /** Sends a request with a fresh ref and resolves with the reply (or error) that echoes it. */
  async request(
    event: string,
    data: Record<string, unknown> = {},
    timeoutMs = DEFAULT_WAIT_MS,
  ): Promise<Frame> {
    const ref = `r${++this.nextRef}`;
    const from = this.frames.length;
    this.send(event, { ...data, ref });
    return this.waitFor((f) => f.data?.ref === ref, { from, timeoutMs });
  }

  /** Resolves with the first frame (from index `from`) that matches. */
  waitFor(
    predicate: (frame: Frame) => boolean,
    { from = 0, timeoutMs = DEFAULT_WAIT_MS }: { from?: number; timeoutMs?: number } = {},
  ): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(
          new Error(
            `no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(from))}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        const found = this.frames.slice(from).find(predicate);
        if (!found) return false;
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      if (!check()) this.waiters.push(check);
    });
  }

  /** Waits until `count` frames with this event have arrived. */
  async waitForCount(event: string, count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.framesOf(event).length < count) {
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} ${event} frames, got ${this.framesOf(event).length}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
          return true;
        });
      });
    }
    return this.framesOf(event);
  }

  framesOf(event: string): Frame[] {
    return this.frames.filter((f) => f.event === event);
  }

  messages(topic?: string): Array<Record<string, any>> {
    return this.framesOf('message')
      .map((f) => f.data)
      .filter((d) => topic === undefined || d.topic === topic);
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    this.socket.terminate();
  }

  private wake(): void {
    this.waiters = this.waiters.filter((check) => !check());
  }
}

/** Attempts a connection and reports how it ended; never throws. */
export function tryConnect(url: string, options: ClientOptions = {}): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, options);
    const client = new TestClient(socket);
    socket.once('open', () => resolve({ kind: 'open', client }));
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      const { headers } = res;
      res.on('end', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, body, headers }));
      res.on('error', () =>
        resolve({ kind: 'refused', status: res.statusCode ?? 0, body, headers }),
      );
    });
    socket.once('error', (error) => resolve({ kind: 'error', error }));
  });
}

/** Connects and waits for the `connected` frame; throws if the server refused. */
export async function connect(url: string, options: ClientOptions = {}): Promise<TestClient> {
  const result = await tryConnect(url, options);
  if (result.kind === 'refused')
    throw new Error(`handshake refused with ${result.status}: ${result.body}`);
  if (result.kind === 'error') throw result.error;
  await result.client.waitFor((f) => f.event === 'connected');
  return result.client;
}
