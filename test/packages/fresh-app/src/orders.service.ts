import { Injectable } from '@nestjs/common';
import { BroadcastService } from '@nest-realtime/server';
import type { Order, ShopEvents } from './shop-events';

/** A domain service: it knows nothing of sockets, it publishes what happened. */
@Injectable()
export class OrdersService {
  private sequence = 0;

  constructor(private readonly realtime: BroadcastService<ShopEvents>) {}

  async create(item: string): Promise<Order> {
    const order = { id: String(++this.sequence), item };
    await this.realtime.publish('orders', 'order.created', order);
    return order;
  }
}
