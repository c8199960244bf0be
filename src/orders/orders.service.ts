import { Injectable, NotFoundException } from '@nestjs/common';
import { BroadcastService } from '@nest-realtime/server';
import { createHash, randomUUID } from 'node:crypto';
import type { AppEvents } from '../app-events';
import type { Order, OrderItem, OrderStatus } from './order';

export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;
/** PROTOCOL §7: a repeat within 5 minutes returns the same order. */
const IDEMPOTENCY_WINDOW_MS = 5 * 60_000;
const MAX_IDEMPOTENCY_KEYS = 10_000;

/** In-memory orders; every change goes live on `orders` and on the owner's `user:<id>` topic. */
@Injectable()
export class OrdersService {
  private readonly orders = new Map<string, Order>();
  /** Per user and Idempotency-Key; insertion order is expiry order (one window for all). */
  private readonly idempotent = new Map<string, { order: Promise<Order>; expiresAt: number }>();

  constructor(private readonly realtime: BroadcastService<AppEvents>) {}

  create(ownerId: string, items: OrderItem[]): Promise<Order> {
    return this.place(randomUUID(), ownerId, items);
  }

  /**
   * `POST /orders` with `Idempotency-Key`: a repeat by the same user within
   * the window gets the same order and publishes nothing new. The order id is
   * derived from the user and the key, and the publishes carry idempotency
   * keys, so a repeat that reaches another instance (Redis mode) publishes
   * nothing either and names the same order.
   */
  createOnce(ownerId: string, items: OrderItem[], idempotencyKey: string): Promise<Order> {
    const now = Date.now();
    for (const [key, entry] of this.idempotent) {
      if (entry.expiresAt > now && this.idempotent.size < MAX_IDEMPOTENCY_KEYS) break;
      this.idempotent.delete(key);
    }
    const scope = `${ownerId}\n${idempotencyKey}`;
    const known = this.idempotent.get(scope);
    if (known) return known.order;
    const id = createHash('sha256').update(scope).digest('hex').slice(0, 32);
    const order = this.place(id, ownerId, items, `order:${id}`);
    const entry = { order, expiresAt: now + IDEMPOTENCY_WINDOW_MS };
    this.idempotent.set(scope, entry);
    order.catch(() => {
      if (this.idempotent.get(scope) === entry) this.idempotent.delete(scope);
    });
    return order;
  }

  private async place(
    id: string,
    ownerId: string,
    items: OrderItem[],
    idempotencyKey?: string,
  ): Promise<Order> {
    const now = new Date().toISOString();
    const order: Order = {
      id,
      ownerId,
      items: items.map(({ sku, qty }) => ({ sku, qty })),
      status: 'pending',
      createdAt: now,
      updatedAt: now,
    };
    this.orders.set(order.id, order);
    await this.announce('order.created', order, idempotencyKey);
    return order;
  }

  async updateStatus(id: string, status: OrderStatus): Promise<Order> {
    const order = this.orders.get(id);
    if (!order) throw new NotFoundException(`order ${id} not found`);
    order.status = status;
    order.updatedAt = new Date().toISOString();
    await this.announce('order.updated', order);
    return order;
  }

  find(id: string): Order | undefined {
    return this.orders.get(id);
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
