import {
  Body,
  Controller,
  ForbiddenException,
  Get,
  NotFoundException,
  Param,
  Patch,
  Post,
} from '@nestjs/common';
import { type AuthenticatedUser, CurrentUser } from '../auth/authenticated-user';
import { AdminOnly, Authenticated } from '../auth/roles.decorator';
import type { Order } from './order';
import { CreateOrderDto, UpdateOrderDto } from './order.dto';
import { OrdersService } from './orders.service';
import { ValidatedBody } from '../http-validation.pipe';

@ValidatedBody()
@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  @Post()
  @Authenticated()
  create(@CurrentUser() user: AuthenticatedUser, @Body() body: CreateOrderDto): Promise<Order> {
    return this.orders.create(user.userId, body.items);
  }

  @Get(':id')
  @Authenticated()
  get(@CurrentUser() user: AuthenticatedUser, @Param('id') id: string): Order {
    const order = this.orders.find(id);
    if (!order) throw new NotFoundException(`order ${id} not found`);
    if (order.ownerId !== user.userId && !user.roles.includes('admin'))
      throw new ForbiddenException();
    return order;
  }

  @Patch(':id')
  @AdminOnly()
  update(@Param('id') id: string, @Body() body: UpdateOrderDto): Promise<Order> {
    return this.orders.updateStatus(id, body.status);
  }
}
