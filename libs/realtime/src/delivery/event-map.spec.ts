import { RealtimeRecorder } from '../testing/realtime-recorder';
import type { EventMap } from '../protocol';

interface Order {
  id: string;
  status: 'pending' | 'paid';
}

interface ShopEvents extends EventMap {
  orders: { 'order.created': Order; 'order.updated': Order };
  inventory: { 'inventory.updated': { sku: string; stock: number } };
}

/**
 * The event map checks publish calls at compile time: every @ts-expect-error
 * below must be a type error, or `npm run typecheck` (and ts-jest) fails.
 */
describe('EventMap typing', () => {
  const realtime = new RealtimeRecorder<ShopEvents>();
  const order: Order = { id: '1', status: 'paid' };

  it('accepts the declared topics, keyed topics, types and payloads', async () => {
    await realtime.publish('orders', 'order.created', order);
    await realtime.publish('orders:eu', 'order.updated', order);
    await realtime.publish(`inventory:${'sku-1'}`, 'inventory.updated', { sku: 'sku-1', stock: 3 });
    expect(realtime.published.map((m) => m.topic)).toEqual([
      'orders',
      'orders:eu',
      'inventory:sku-1',
    ]);
  });

  it('refuses undeclared namespaces, types and wrong payloads', async () => {
    const attempts = [
      // @ts-expect-error: namespace not in the map
      () => realtime.publish('payments', 'order.created', order),
      // @ts-expect-error: event type not declared for the namespace
      () => realtime.publish('orders', 'inventory.updated', order),
      // @ts-expect-error: payload of the wrong shape
      () => realtime.publish('inventory', 'inventory.updated', { sku: 'x' }),
      // @ts-expect-error: payload of another event
      () => realtime.publish('orders', 'order.created', { sku: 'x', stock: 1 }),
    ];
    // At run time the recorder only checks names: the guarantee above is the compiler's.
    await Promise.all(attempts.map((attempt) => attempt()));
    expect(realtime.published).toHaveLength(3 + attempts.length);
  });
});
