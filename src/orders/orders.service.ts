import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { BroadcastService, IdempotencyService } from '@nest-realtime/server';
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
 * `orders` and on the owner's `user:<id>` topic. Order ids are random: an
 * idempotency key names at most one order, and only within its window.
 */
@Injectable()
export class OrdersService {
  /** Insertion order is age order: the oldest is forgotten first. */
  private readonly orders = new Map<string, Order>();
  private readonly perUser = new Map<string, number>();
  /** Orders being placed (announced) right now, for a concurrent repeat of the same key. */
  private readonly placing = new Map<string, Promise<Order>>();

  constructor(
    private readonly realtime: BroadcastService<AppEvents>,
    private readonly idempotency: IdempotencyService,
  ) {}

  create(ownerId: string, items: OrderItem[]): Promise<Order> {
    return this.place(randomUUID(), ownerId, items);
  }

  /**
   * `POST /orders` with `Idempotency-Key`: a repeat by the same user within
   * the window gets the same order and publishes nothing new. The order's
   * random id is drawn once per (user, key) and window by IdempotencyService,
   * cluster-wide in Redis mode, so a repeat on another instance names the same
   * order; the publishes carry idempotency keys, so it publishes nothing
   * either. After the window the key makes a new order: never a rewrite.
   */
  async createOnce(ownerId: string, items: OrderItem[], idempotencyKey: string): Promise<Order> {
    const scope = createHash('sha256').update(`${ownerId}\n${idempotencyKey}`).digest('hex');
    const id = await this.idempotency.once(
      `orders:${scope}`,
      () => Promise.resolve(randomUUID()),
      IDEMPOTENCY_WINDOW_SECONDS,
    );
    const known = this.placing.get(id) ?? this.orders.get(id);
    if (known) return known;
    return this.place(id, ownerId, items, `order:${id}`);
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

  private async place(
    id: string,
    ownerId: string,
    items: OrderItem[],
    idempotencyKey?: string,
  ): Promise<Order> {
    const owned = this.perUser.get(ownerId) ?? 0;
    if (owned >= MAX_ORDERS_PER_USER) {
      throw new ConflictException(`at most ${MAX_ORDERS_PER_USER} orders per user in this demo`);
    }
    const now = new Date().toISOString();
    const order: Order = {
      id,
      ownerId,
      items: items.map(({ sku, qty }) => ({ sku, qty })),
      status: 'pending',
      createdAt: now,
      updatedAt: now,
    };
    this.keep(order);
    const announced = this.announce('order.created', order, idempotencyKey).then(() => order);
    this.placing.set(id, announced);
    try {
      return await announced;
    } finally {
      this.placing.delete(id);
    }
  }

  private keep(order: Order): void {
    if (this.orders.size >= MAX_ORDERS) {
      const [oldest] = this.orders.values();
      this.forget(oldest);
    }
    this.orders.set(order.id, order);
    this.perUser.set(order.ownerId, (this.perUser.get(order.ownerId) ?? 0) + 1);
  }

  private forget(order: Order): void {
    this.orders.delete(order.id);
    const owned = (this.perUser.get(order.ownerId) ?? 1) - 1;
    if (owned > 0) this.perUser.set(order.ownerId, owned);
    else this.perUser.delete(order.ownerId);
  }

  private async announce(
    type: 'order.created' | 'order.updated',
    order: Order,
    idempotencyKey?: string,
  ): Promise<void> {
    const once = (topic: string) =>
      idempotencyKey === undefined ? undefined : { idempotencyKey: `${idempotencyKey}:${topic}` };
    await Promise.all([
      this.realtime.publish('orders', type, order, once('orders')),
      this.realtime.publish(`user:${order.ownerId}`, type, order, once('user')),
    ]);
  }
}
