import { Body, Controller, Post } from '@nestjs/common';
import type { Order } from './shop-events';
import { OrdersService } from './orders.service';

@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  @Post()
  create(@Body() body: { item: string }): Promise<Order> {
    return this.orders.create(body.item);
  }
}
