import { BadRequestException, Body, Controller, Param, Put } from '@nestjs/common';
import { IsInt, Max, Min } from 'class-validator';
import { AdminOnly } from '../auth/roles.decorator';
import { InventoryService, type StockLevel } from './inventory.service';
import { ValidatedBody } from '../http-validation.pipe';

export class SetStockDto {
  @IsInt()
  @Min(0)
  @Max(1_000_000_000)
  stock!: number;
}

const SKU = /^[A-Za-z0-9_.@=-]{1,100}$/;

@ValidatedBody()
@Controller('inventory')
export class InventoryController {
  constructor(private readonly inventory: InventoryService) {}

  @Put(':sku')
  @AdminOnly()
  set(@Param('sku') sku: string, @Body() body: SetStockDto): Promise<StockLevel> {
    if (!SKU.test(sku)) throw new BadRequestException('sku must match [A-Za-z0-9_.@=-]{1,100}');
    return this.inventory.setStock(sku, body.stock);
  }
}
