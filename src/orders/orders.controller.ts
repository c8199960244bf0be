import {
  Body,
  Controller,
  BadRequestException,
  Get,
  Headers,
  NotFoundException,
  Param,
  Patch,
  Post,
} from '@nestjs/common';
import { type AuthenticatedUser, CurrentUser } from '../auth/authenticated-user';
import { AdminOnly, Authenticated } from '../auth/roles.decorator';
import type { Order } from './order';
import { CreateOrderDto, UpdateOrderDto } from './order.dto';
import { MAX_IDEMPOTENCY_KEY_LENGTH, OrdersService } from './orders.service';
import { ValidatedBody } from '../http-validation.pipe';

@ValidatedBody()
@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  @Post()
  @Authenticated()
  create(
    @CurrentUser() user: AuthenticatedUser,
    @Body() body: CreateOrderDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<Order> {
    if (idempotencyKey === undefined) return this.orders.create(user.userId, body.items);
    if (idempotencyKey.length === 0 || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH)
      throw new BadRequestException(
        `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
      );
    return this.orders.createOnce(user.userId, body.items, idempotencyKey);
  }

  @Get(':id')
  @Authenticated()
  get(@CurrentUser() user: AuthenticatedUser, @Param('id') id: string): Order {
    const order = this.orders.find(id);
    // Someone else's order is as missing as one that does not exist: ids say nothing.
    if (!order || (order.ownerId !== user.userId && !user.roles.includes('admin'))) {
      throw new NotFoundException('order not found');
    }
    return order;
  }

  @Patch(':id')
  @AdminOnly()
  update(@Param('id') id: string, @Body() body: UpdateOrderDto): Promise<Order> {
    return this.orders.updateStatus(id, body.status);
  }
}
