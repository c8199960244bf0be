import { randomUUID } from 'node:crypto';
import { TEST_JWT_SECRET } from '../support/demo-app';
import type { HttpReply } from '../support/http';
import { nowSeconds, signJwt } from '../support/jwt';
import { sleep } from '../support/waits';
import type { ChaosCluster } from './chaos-cluster';
import type { ChaosConfig } from './chaos-config';
import { type Balancer, ChaosClient } from './chaos-client';
import type { ChaosLedger } from './ledger/chaos-ledger';
import type { SeededRandom } from './seeded-random';

/** A REST publish whose route answered 2xx: its message must reach the topic's subscribers. */
export interface ConfirmedPublish {
  ledgerId: string;
  topic: string;
  requestedAt: number;
  confirmedAt: number;
}

export interface PublishCounts {
  orders: number;
  inventory: number;
  chat: number;
  failed: number;
}

/** Requests in flight at most; a tick over it is skipped (counted), as a client that backs off. */
const MAX_HTTP_IN_FLIGHT = 64;
const TOKEN_LIFETIME_S = 4 * 3600;
/** One user in ten has a second device. */
const SECOND_DEVICE_EVERY = 10;
const REVOKE_ATTEMPTS = 10;

export const userName = (n: number) => `user-${String(n).padStart(6, '0')}`;
export const roomName = (n: number) => `chat:room-${String(n).padStart(3, '0')}`;
export const skuName = (n: number) => `sku-${String(n).padStart(3, '0')}`;
/** Keys of Redis that name one of the run's users, rooms or SKUs (the leak check). */
export const ENTITY_IN_KEY = /user-\d{6}|room-\d{3}|sku-\d{3}/;

/**
 * The chaos run's users and publishers: clients of the SDK subscribed to
 * `orders`, their `user:<id>`, one `inventory:<sku>` and one chat room;
 * orders (REST, as their users), stock levels (REST, admin), chat messages
 * (client publish), offline notifications (REST, admin), users leaving and
 * coming back, and revocations. Every message carries a ledger id.
 */
export class Workload {
  readonly clients: ChaosClient[] = [];
  readonly byUser = new Map<string, ChaosClient[]>();
  readonly confirmed: ConfirmedPublish[] = [];
  readonly published: PublishCounts = { orders: 0, inventory: 0, chat: 0, failed: 0 };
  private readonly tokens = new Map<string, string>();
  private readonly adminToken: string;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly stock = new Map<string, number>();
  private inFlight = 0;
  private sequence = 0;
  skipped = 0;

  constructor(
    private readonly config: ChaosConfig,
    private readonly cluster: ChaosCluster,
    private readonly ledger: ChaosLedger,
    private readonly random: SeededRandom,
    private readonly balancer: Balancer,
  ) {
    this.adminToken = token('chaos-admin', ['admin']);
    for (let n = 1; this.clients.length < config.clients; n++) {
      const user = userName(n);
      this.tokens.set(user, token(user));
      const devices = n % SECOND_DEVICE_EVERY === 0 ? 2 : 1;
      for (let d = 0; d < devices && this.clients.length < config.clients; d++)
        this.addClient(user);
    }
  }

  get adminTokenValue(): string {
    return this.adminToken;
  }

  tokenOf(user: string): string {
    return this.tokens.get(user)!;
  }

  get users(): string[] {
    return [...this.byUser.keys()];
  }

  /** Starts every client, spread over the ramp. */
  async ramp(): Promise<void> {
    const batch = Math.max(
      1,
      Math.ceil(this.clients.length / Math.max(1, this.config.rampMs / 100)),
    );
    for (let i = 0; i < this.clients.length; i += batch) {
      for (const client of this.clients.slice(i, i + batch)) client.start();
      await sleep(100);
    }
  }

  /** The chaos phase's traffic, until stop(). */
  start(): void {
    const { config } = this;
    this.every(config.ordersPerSecond, () => this.placeOrder());
    this.every(config.inventoryPerSecond, () => this.setStock());
    this.every(config.chatPerSecond, () => this.chat());
    this.every(config.notificationsPerSecond, () => this.notify());
    this.every(config.churnPerSecond, () => this.churn());
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  /** Every user who left comes back (the end of the run). */
  everyoneBack(): void {
    for (const client of this.clients) if (client.away) client.comeBack();
  }

  /** Clients that should be connected: not revoked (ended), not away. */
  present(): ChaosClient[] {
    return this.clients.filter((client) => !client.ended && !client.away);
  }

  /** Revokes a user who is not revoked yet, retrying while Redis is down; records it once confirmed. */
  async revokeSomeone(): Promise<void> {
    const candidates = this.users.filter((user) => !this.ledger.revocations.isRevoked(user));
    const user = this.random.pick(candidates);
    // An attempt whose answer was lost (503, an instance killed mid-request) may still have
    // revoked: the user's clients may end from the first request on.
    const requestedAt = Date.now();
    this.ledger.revocations.requested(user);
    for (let attempt = 0; attempt < REVOKE_ATTEMPTS; attempt++) {
      const reply = await this.admin('POST', '/admin/revoke', { userId: user });
      if (reply?.status === 202) {
        this.ledger.revocations.revoked(user, requestedAt, Date.now());
        return;
      }
      await sleep(500);
    }
  }

  leaveAll(): void {
    for (const client of this.clients) client.leave();
  }

  private addClient(user: string): void {
    const n = this.clients.length;
    const topics = [
      'orders',
      `user:${user}`,
      `inventory:${skuName(this.random.int(1, this.config.skus))}`,
      roomName(this.random.int(1, this.config.rooms)),
    ];
    const client = new ChaosClient(
      `client-${n}`,
      user,
      topics,
      this.tokens.get(user)!,
      this.ledger,
      this.balancer,
      this.config,
    );
    this.clients.push(client);
    const devices = this.byUser.get(user) ?? [];
    devices.push(client);
    this.byUser.set(user, devices);
  }

  private every(perSecond: number, action: () => void | Promise<void>): void {
    if (perSecond <= 0) return;
    const tick = () => {
      this.timers.delete(timer);
      timer = setTimeout(tick, 1000 / perSecond);
      this.timers.add(timer);
      void action();
    };
    let timer = setTimeout(tick, 1000 / perSecond);
    this.timers.add(timer);
  }

  private activeUser(): string | undefined {
    const users = this.users.filter(
      (user) =>
        !this.ledger.revocations.isRevoked(user) && this.byUser.get(user)!.some((c) => !c.away),
    );
    return users.length === 0 ? undefined : this.random.pick(users);
  }

  private async placeOrder(): Promise<void> {
    const user = this.activeUser();
    if (!user) return;
    const ledgerId = `L${++this.sequence}`;
    const requestedAt = Date.now();
    const reply = await this.request(
      'POST',
      '/orders',
      { items: [{ sku: ledgerId, qty: 1 }] },
      this.tokens.get(user),
    );
    if (reply === undefined) return;
    if (reply.status >= 200 && reply.status < 300) {
      this.published.orders++;
      const confirmedAt = Date.now();
      this.confirmed.push({ ledgerId, topic: 'orders', requestedAt, confirmedAt });
    } else this.published.failed++;
  }

  private async setStock(): Promise<void> {
    const sku = skuName(this.random.int(1, this.config.skus));
    const stock = (this.stock.get(sku) ?? 0) + 1;
    this.stock.set(sku, stock);
    const requestedAt = Date.now();
    const reply = await this.admin('PUT', `/inventory/${sku}`, { stock });
    if (reply === undefined) return;
    if (reply.status >= 200 && reply.status < 300) {
      this.published.inventory++;
      const ledgerId = `${sku}#${stock}`;
      this.confirmed.push({
        ledgerId,
        topic: `inventory:${sku}`,
        requestedAt,
        confirmedAt: Date.now(),
      });
    } else this.published.failed++;
  }

  private async chat(): Promise<void> {
    const connected = this.clients.filter((client) => client.connected);
    if (connected.length === 0) return;
    const client = this.random.pick(connected);
    if (await client.publish(client.topics[3], `C${++this.sequence}`)) this.published.chat++;
    else this.published.failed++;
  }

  private async notify(): Promise<void> {
    const user = this.random.pick(this.users);
    const requestedAt = Date.now();
    const ttlSeconds = this.config.notificationTtlSeconds;
    const reply = await this.admin('POST', '/admin/notify', {
      userId: user,
      message: `N${++this.sequence}`,
      ttlSeconds,
    });
    if (reply?.status !== 202) return;
    const id = (reply.body as { id: string }).id;
    this.ledger.notifications.notified(id, user, requestedAt, Date.now(), ttlSeconds * 1000);
  }

  /** A user closes the app for a while: shorter or longer than the history and the notifications' TTL. */
  private churn(): void {
    const user = this.activeUser();
    if (!user) return;
    const devices = this.byUser.get(user)!;
    for (const client of devices) client.leave();
    const awayMs = this.random.int(300, Math.round(this.config.notificationTtlSeconds * 2_200));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      for (const client of devices) client.comeBack();
    }, awayMs);
    this.timers.add(timer);
  }

  private admin(method: string, path: string, body: unknown): Promise<HttpReply | undefined> {
    return this.request(method, path, body, this.adminToken);
  }

  /**
   * One HTTP call to an instance the balancer picks: its reply (status 0 when
   * none came), or undefined when skipped for backpressure.
   */
  private async request(
    method: string,
    path: string,
    body: unknown,
    bearer: string | undefined,
  ): Promise<HttpReply | undefined> {
    if (this.inFlight >= MAX_HTTP_IN_FLIGHT) {
      this.skipped++;
      return undefined;
    }
    const index = this.balancer.pick();
    if (index === undefined) {
      this.ledger.httpFailures.add('no instance up');
      return { status: 0, body: undefined, text: '' };
    }
    this.inFlight++;
    try {
      const reply = await this.cluster.http(index, method, path, body, bearer);
      if (reply.status >= 300)
        this.ledger.httpFailures.add(`${method} ${route(path)} ${reply.status}`);
      if (reply.status >= 500 && reply.status !== 503) {
        this.ledger.violations.add(
          'unexpected server error',
          `${method} ${path}: ${reply.status} ${reply.text.slice(0, 200)}`,
        );
      }
      return reply;
    } catch (error) {
      this.ledger.httpFailures.add(`${method} ${route(path)}: ${(error as Error).message}`);
      return { status: 0, body: undefined, text: '' };
    } finally {
      this.inFlight--;
    }
  }
}

function token(user: string, roles: string[] = []): string {
  const iat = nowSeconds();
  return signJwt(
    { sub: user, roles, iat, exp: iat + TOKEN_LIFETIME_S, jti: randomUUID() },
    TEST_JWT_SECRET,
  );
}

function route(path: string): string {
  return path.replace(/\/sku-\d+/, '/:sku');
}
