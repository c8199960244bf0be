import { Injectable, NotFoundException } from '@nestjs/common';
import { BroadcastService } from '@app/realtime';
import { randomUUID } from 'node:crypto';
import type { AppEvents } from '../app-events';
import type { Order, OrderItem, OrderStatus } from './order';

/** In-memory orders; every change goes live on `orders` and on the owner's `user:<id>` topic. */
@Injectable()
export class OrdersService {
  private readonly orders = new Map<string, Order>();

  constructor(private readonly realtime: BroadcastService<AppEvents>) {}

  async create(ownerId: string, items: OrderItem[]): Promise<Order> {
    const now = new Date().toISOString();
    const order: Order = {
      id: randomUUID(),
      ownerId,
      items: items.map(({ sku, qty }) => ({ sku, qty })),
      status: 'pending',
      createdAt: now,
      updatedAt: now,
    };
    this.orders.set(order.id, order);
    await this.announce('order.created', order);
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

  private async announce(type: 'order.created' | 'order.updated', order: Order): Promise<void> {
    await Promise.all([
      this.realtime.publish('orders', type, order),
      this.realtime.publish(`user:${order.ownerId}`, type, order),
    ]);
  }
}
