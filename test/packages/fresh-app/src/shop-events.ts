import type { EventMap } from '@nest-realtime/server';

export interface Order {
  id: string;
  item: string;
}

/** The app's events: publishes and subscriptions are checked against them at compile time. */
export interface ShopEvents extends EventMap {
  orders: { 'order.created': Order };
}
