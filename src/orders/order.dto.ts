import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { ORDER_STATUSES, type OrderStatus } from './order';

export class OrderItemDto {
  @IsString()
  @Matches(/^[A-Za-z0-9_.@=-]{1,100}$/)
  sku!: string;

  @IsInt()
  @Min(1)
  @Max(10_000)
  qty!: number;
}

export class CreateOrderDto {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  // ValidateNested validates an array element's own elements instead (`[[]]` passed): each item
  // must be an object first.
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => OrderItemDto)
  items!: OrderItemDto[];
}

export class UpdateOrderDto {
  @IsIn(ORDER_STATUSES)
  status!: OrderStatus;
}
