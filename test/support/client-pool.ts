import type { ClientOptions } from 'ws';
import { connect, type ConnectResult, type TestClient, tryConnect } from './ws-client';

/** The clients a test app opened, so that stopping the app closes them all. */
export class ClientPool {
  private clients: TestClient[] = [];

  /** Connects and waits for `connected`; throws if the server refused. */
  async connect(url: string, options: ClientOptions = {}): Promise<TestClient> {
    return this.track(await connect(url, options));
  }

  /** Attempts a handshake and reports how it ended; never throws. */
  async tryConnect(url: string, options: ClientOptions = {}): Promise<ConnectResult> {
    const result = await tryConnect(url, options);
    if (result.kind === 'open') this.track(result.client);
    return result;
  }

  track(client: TestClient): TestClient {
    this.clients.push(client);
    return client;
  }

  async closeAll(close: (client: TestClient) => Promise<void> = (c) => c.close()): Promise<void> {
    const clients = this.clients;
    this.clients = [];
    await Promise.all(clients.map(close));
  }
}
