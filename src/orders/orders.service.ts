import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { BroadcastService, IdempotencyService, KEY_PATTERN } from '@nest-realtime/server';
import { createHash, randomUUID } from 'node:crypto';
import type { AppEvents } from '../app-events';
import type { Order, OrderItem, OrderStatus } from './order';

export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;
/** PROTOCOL §7: a repeat within 5 minutes returns the same order. */
const IDEMPOTENCY_WINDOW_SECONDS = 5 * 60;
/** The demo keeps orders in memory: this many at most, the oldest forgotten first. */
export const MAX_ORDERS = 10_000;
/** And this many per user, so that one user cannot push out everyone else's. */
export const MAX_ORDERS_PER_USER = 100;

/**
 * In-memory orders (a real app has a database); every change goes live on
 * `orders` and on the owner's `user:<id>` topic, when their id is a topic key
 * (an id such as `auth0|…` owns no topic: that user follows `orders`). Order
 * ids are random: an idempotency key names at most one order, and only
 * within its window. An order is stored only once its `order.created`
 * publishes went out, so one whose publish failed (503) cannot be updated
 * before anyone heard of it.
 */
@Injectable()
export class OrdersService {
  /** Insertion order is age order: the oldest is forgotten first. */
  private readonly orders = new Map<string, Order>();
  /** Per user, orders stored or being placed here: the bound counts both. */
  private readonly perUser = new Map<string, number>();
  /** Orders being placed (announced) right now, for a concurrent repeat of the same key. */
  private readonly placing = new Map<string, Promise<Order>>();

  constructor(
    private readonly realtime: BroadcastService<AppEvents>,
    private readonly idempotency: IdempotencyService,
  ) {}

  async create(ownerId: string, items: OrderItem[]): Promise<Order> {
    return this.place(this.draft(ownerId, items));
  }

  /**
   * `POST /orders` with `Idempotency-Key`: a repeat by the same user within
   * the window gets the same order and publishes nothing new. The order
   * itself (random id, items, times) is drawn once per (user, key) and
   * window by IdempotencyService, cluster-wide in Redis mode, so a repeat on
   * any instance names the same order. Its publishes carry idempotency keys
   * of their own, one per topic: a repeat after a failed attempt publishes
   * to each topic the first attempt did not reach, and nowhere twice. After
   * the window the key makes a new order: never a rewrite.
   */
  async createOnce(ownerId: string, items: OrderItem[], idempotencyKey: string): Promise<Order> {
    const scope = createHash('sha256').update(`${ownerId}\n${idempotencyKey}`).digest('hex');
    // Not `orders:` (the key of earlier demos, whose records hold a bare id, not an order).
    const drafted = await this.idempotency.once(
      `orders:drafted:${scope}`,
      () => Promise.resolve(JSON.stringify(this.draft(ownerId, items))),
      IDEMPOTENCY_WINDOW_SECONDS,
    );
    const order = JSON.parse(drafted) as Order;
    return this.orders.get(order.id) ?? this.place(order, `order:${order.id}`);
  }

  async updateStatus(id: string, status: OrderStatus): Promise<Order> {
    const order = this.orders.get(id);
    if (!order) throw new NotFoundException('order not found');
    order.status = status;
    order.updatedAt = new Date().toISOString();
    await this.announce('order.updated', order);
    return order;
  }

  find(id: string): Order | undefined {
    return this.orders.get(id);
  }

  /** The bound, checked where a draft is made and again where it is counted (after waits). */
  private assertRoom(ownerId: string): void {
    if ((this.perUser.get(ownerId) ?? 0) >= MAX_ORDERS_PER_USER) {
      throw new ConflictException(`at most ${MAX_ORDERS_PER_USER} orders per user in this demo`);
    }
  }

  private draft(ownerId: string, items: OrderItem[]): Order {
    this.assertRoom(ownerId);
    const now = new Date().toISOString();
    return {
      id: randomUUID(),
      ownerId,
      items: items.map(({ sku, qty }) => ({ sku, qty })),
      status: 'pending',
      createdAt: now,
      updatedAt: now,
    };
  }

  private async place(order: Order, idempotencyKey?: string): Promise<Order> {
    const placing = this.placing.get(order.id);
    if (placing) return placing;
    // Concurrent creates of one user each passed draft()'s check before any was counted.
    this.assertRoom(order.ownerId);
    this.perUser.set(order.ownerId, (this.perUser.get(order.ownerId) ?? 0) + 1);
    const placed = this.announce('order.created', order, idempotencyKey)
      .then(
        () => {
          this.keep(order);
          return order;
        },
        (error: unknown) => {
          this.release(order.ownerId);
          throw error;
        },
      )
      .finally(() => this.placing.delete(order.id));
    this.placing.set(order.id, placed);
    return placed;
  }

  private keep(order: Order): void {
    if (this.orders.size >= MAX_ORDERS) {
      const [oldest] = this.orders.values();
      this.forget(oldest);
    }
    this.orders.set(order.id, order);
  }

  private forget(order: Order): void {
    this.orders.delete(order.id);
    this.release(order.ownerId);
  }

  private release(ownerId: string): void {
    const owned = (this.perUser.get(ownerId) ?? 1) - 1;
    if (owned > 0) this.perUser.set(ownerId, owned);
    else this.perUser.delete(ownerId);
  }

  private async announce(
    type: 'order.created' | 'order.updated',
    order: Order,
    idempotencyKey?: string,
  ): Promise<void> {
    const once = (topic: string) =>
      idempotencyKey === undefined ? undefined : { idempotencyKey: `${idempotencyKey}:${topic}` };
    const publishes = [this.realtime.publish('orders', type, order, once('orders'))];
    if (KEY_PATTERN.test(order.ownerId)) {
      publishes.push(this.realtime.publish(`user:${order.ownerId}`, type, order, once('user')));
    }
    await Promise.all(publishes);
  }
}
