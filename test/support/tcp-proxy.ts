import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP relay in front of a server, for link faults a server cannot
 * stage by itself: `freeze()` makes every open link silently swallow bytes
 * both ways (a dead Wi-Fi, a NAT that forgot the flow); new links work.
 * `muteReplies()` lets requests through but swallows what comes back on
 * the open links (a request that ran but whose reply was lost). `cut()`
 * resets every link and refuses new ones until `restore()` (a network
 * partition). `delay(ms)` holds every chunk that long each way (a slow or
 * distant server); `slowLinksSaying(marker, ms)` only on the links whose
 * client sent `marker` (one connection of several slow to get ready).
 */
export class TcpProxy {
  private readonly links = new Set<{
    client: Socket;
    upstream: Socket;
    frozen: boolean;
    muted: boolean;
    oneWayMs: number;
  }>();
  private partitioned = false;
  private oneWayMs = 0;
  private slowLinks: { marker: string; oneWayMs: number } | undefined;

  private constructor(private readonly server: Server) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => proxy.relay(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  freeze(): void {
    for (const link of this.links) link.frozen = true;
  }

  muteReplies(): void {
    for (const link of this.links) link.muted = true;
  }

  cut(): void {
    this.partitioned = true;
    for (const { client, upstream } of this.links) {
      client.resetAndDestroy();
      upstream.destroy();
    }
  }

  /** From now on, every chunk on every link is held `oneWayMs` each way (in order). */
  delay(oneWayMs: number): void {
    this.oneWayMs = oneWayMs;
  }

  /** From now on, a link whose client sends `marker` has that chunk and every later one held `oneWayMs` each way. */
  slowLinksSaying(marker: string, oneWayMs: number): void {
    this.slowLinks = { marker, oneWayMs };
  }

  restore(): void {
    this.partitioned = false;
  }

  async stop(): Promise<void> {
    for (const { client, upstream } of this.links) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, targetPort: number): void {
    if (this.partitioned) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(targetPort, '127.0.0.1');
    const link = { client, upstream, frozen: false, muted: false, oneWayMs: 0 };
    this.links.add(link);
    const forward = (to: Socket, chunk: Buffer) => {
      const oneWayMs = Math.max(this.oneWayMs, link.oneWayMs);
      if (oneWayMs === 0) to.write(chunk);
      else setTimeout(() => to.writable && to.write(chunk), oneWayMs);
    };
    client.on('data', (chunk: Buffer) => {
      if (this.slowLinks && chunk.includes(this.slowLinks.marker)) {
        link.oneWayMs = this.slowLinks.oneWayMs;
      }
      if (!link.frozen) forward(upstream, chunk);
    });
    upstream.on('data', (chunk) => link.frozen || link.muted || forward(client, chunk));
    const end = () => {
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }
}
