import type { EventMap } from '@nest-realtime/server';
import type { Order } from './orders/order';

/** Every event the demo publishes, by topic namespace: publish calls are checked against it. */
export interface AppEvents extends EventMap {
  orders: { 'order.created': Order; 'order.updated': Order };
  user: { 'order.created': Order; 'order.updated': Order };
  inventory: { 'inventory.updated': { sku: string; stock: number } };
  /** Clients publish here (the page's chat room keeps presence: who is in it). */
  chat: { 'chat.message': { text: string } };
}
