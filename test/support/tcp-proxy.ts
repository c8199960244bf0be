import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP relay in front of a server, for link faults a server cannot
 * stage by itself: `freeze()` makes every open link silently swallow bytes
 * both ways (a dead Wi-Fi, a NAT that forgot the flow); new links work.
 */
export class TcpProxy {
  private readonly links = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();

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

  async stop(): Promise<void> {
    for (const { client, upstream } of this.links) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, targetPort: number): void {
    const upstream = createConnection(targetPort, '127.0.0.1');
    const link = { client, upstream, frozen: false };
    this.links.add(link);
    client.on('data', (chunk) => link.frozen || upstream.write(chunk));
    upstream.on('data', (chunk) => link.frozen || client.write(chunk));
    const end = () => {
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }
}
