import { Injectable } from '@nestjs/common';
import { BroadcastService } from '@nest-realtime/server';
import type { AppEvents } from '../app-events';

export interface StockLevel {
  sku: string;
  stock: number;
}

/** In-memory stock levels; every change goes live on `inventory` and `inventory:<sku>`. */
@Injectable()
export class InventoryService {
  private readonly stock = new Map<string, number>();

  constructor(private readonly realtime: BroadcastService<AppEvents>) {}

  async setStock(sku: string, stock: number): Promise<StockLevel> {
    this.stock.set(sku, stock);
    const level = { sku, stock };
    await Promise.all([
      this.realtime.publish('inventory', 'inventory.updated', level),
      this.realtime.publish(`inventory:${sku}`, 'inventory.updated', level),
    ]);
    return level;
  }
}
