import { NotFoundException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RealtimeRecorder, RealtimeTestingModule } from '@nest-realtime/server';
import { OrdersService } from './orders.service';

/** Domain code tested without sockets: RealtimeTestingModule records what it publishes. */
describe('OrdersService', () => {
  let orders: OrdersService;
  let realtime: RealtimeRecorder;

  beforeEach(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RealtimeTestingModule],
      providers: [OrdersService],
    }).compile();
    orders = moduleRef.get(OrdersService);
    realtime = moduleRef.get(RealtimeRecorder);
  });

  it('announces a new order on orders and on its owner topic', async () => {
    const order = await orders.create('42', [{ sku: 'A-1', qty: 2 }]);
    expect(order).toMatchObject({
      ownerId: '42',
      status: 'pending',
      items: [{ sku: 'A-1', qty: 2 }],
    });
    expect(realtime.published).toEqual([
      { topic: 'orders', type: 'order.created', payload: order, offset: '0-1' },
      { topic: 'user:42', type: 'order.created', payload: order, offset: '0-2' },
    ]);
  });

  it('announces status changes', async () => {
    const order = await orders.create('7', [{ sku: 'B', qty: 1 }]);
    realtime.clear();
    await orders.updateStatus(order.id, 'shipped');
    expect(realtime.publishedTo('user:7')).toEqual([
      expect.objectContaining({
        type: 'order.updated',
        payload: expect.objectContaining({ status: 'shipped' }),
      }),
    ]);
  });

  it('publishes nothing for an unknown order', async () => {
    await expect(orders.updateStatus('missing', 'paid')).rejects.toBeInstanceOf(NotFoundException);
    expect(realtime.published).toEqual([]);
  });
});
