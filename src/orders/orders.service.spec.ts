import { ConflictException, NotFoundException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  BroadcastService,
  EngineUnavailableError,
  IdempotencyService,
  RealtimeRecorder,
  RealtimeTestingModule,
} from '@nest-realtime/server';
import type { Order } from './order';
import { MAX_ORDERS, MAX_ORDERS_PER_USER, OrdersService } from './orders.service';

/** Domain code tested without sockets: RealtimeTestingModule records what it publishes. */
describe('OrdersService', () => {
  let orders: OrdersService;
  let realtime: RealtimeRecorder;
  /** Another instance of the app: the same publishes and idempotency store, orders of its own. */
  let otherInstance: () => OrdersService;

  afterEach(() => jest.useRealTimers());

  beforeEach(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RealtimeTestingModule],
      providers: [OrdersService],
    }).compile();
    orders = moduleRef.get(OrdersService);
    realtime = moduleRef.get(RealtimeRecorder);
    otherInstance = () =>
      new OrdersService(moduleRef.get(BroadcastService), moduleRef.get(IdempotencyService));
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

  describe('Idempotency-Key (issue 18, item 3)', () => {
    const items = [{ sku: 'A-1', qty: 1 }];

    it('a repeat within the window is the same order; ids are random, not derived from the key', async () => {
      const first = await orders.createOnce('42', items, 'k1');
      expect(await orders.createOnce('42', [{ sku: 'other', qty: 9 }], 'k1')).toBe(first);
      const other = await orders.createOnce('43', items, 'k1');
      expect(other.id).not.toBe(first.id);
      expect(first.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(realtime.publishedTo('user:42')).toHaveLength(1);
    });

    it('a repeat after a failed publish publishes where the first attempt did not, once; the order is stored only then', async () => {
      const publish = realtime.publish.bind(realtime);
      let userTopicDown = true;
      jest
        .spyOn(realtime, 'publish')
        .mockImplementation((...args) =>
          userTopicDown && args[0] === 'user:42'
            ? Promise.reject(new EngineUnavailableError('Redis down'))
            : publish(...args),
        );
      await expect(orders.createOnce('42', items, 'k1')).rejects.toBeInstanceOf(
        EngineUnavailableError,
      );
      const [announced] = realtime.publishedTo('orders');
      expect(orders.find((announced.payload as Order).id)).toBeUndefined();

      userTopicDown = false;
      const placed = await orders.createOnce('42', [{ sku: 'other', qty: 9 }], 'k1');
      expect(placed).toEqual(announced.payload);
      expect(orders.find(placed.id)).toBe(placed);
      expect(await orders.createOnce('42', items, 'k1')).toBe(placed);
      expect(realtime.published).toEqual([
        { topic: 'orders', type: 'order.created', payload: placed, offset: '0-1' },
        { topic: 'user:42', type: 'order.created', payload: placed, offset: '0-2' },
      ]);
    });

    it('a repeat on another instance returns the same order, not one built from the repeat', async () => {
      const first = await orders.createOnce('42', items, 'k1');
      jest.useFakeTimers({ now: Date.now() + 1_000, doNotFake: ['nextTick', 'setImmediate'] });
      const again = await otherInstance().createOnce('42', [{ sku: 'other', qty: 9 }], 'k1');
      expect(again).toEqual(first);
      expect(realtime.published).toHaveLength(2);
    });

    it('a repeat after the window is a new order: the first one is never rewritten', async () => {
      jest.useFakeTimers({ now: 1_000_000, doNotFake: ['nextTick', 'setImmediate'] });
      const first = await orders.createOnce('42', items, 'k1');
      await orders.updateStatus(first.id, 'paid');
      jest.setSystemTime(1_000_000 + 5 * 60_000 + 1);
      const again = await orders.createOnce('42', [{ sku: 'B-2', qty: 3 }], 'k1');
      expect(again.id).not.toBe(first.id);
      expect(orders.find(first.id)).toMatchObject({ status: 'paid', items });
      expect(realtime.publishedTo('user:42').map((m) => m.type)).toEqual([
        'order.created',
        'order.updated',
        'order.created',
      ]);
    });
  });

  describe('bounded store (issue 18, item 4)', () => {
    const items = [{ sku: 'A-1', qty: 1 }];

    it(`refuses a user's order past ${MAX_ORDERS_PER_USER}, storing and publishing nothing`, async () => {
      for (let i = 0; i < MAX_ORDERS_PER_USER; i++) await orders.create('busy', items);
      realtime.clear();
      await expect(orders.create('busy', items)).rejects.toBeInstanceOf(ConflictException);
      expect(realtime.published).toEqual([]);
      expect((await orders.create('calm', items)).ownerId).toBe('calm');
    });

    it(`refuses past ${MAX_ORDERS_PER_USER} when the orders were all asked for at once, keys included`, async () => {
      const results = await Promise.allSettled(
        Array.from({ length: MAX_ORDERS_PER_USER + 5 }, (_, n) =>
          orders.createOnce('eager', items, `key-${n}`),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(MAX_ORDERS_PER_USER);
      for (const result of results.filter((r) => r.status === 'rejected')) {
        expect(result.reason).toBeInstanceOf(ConflictException);
      }
    });

    it(`keeps at most ${MAX_ORDERS} orders, forgetting the oldest first`, async () => {
      const users = Math.ceil((MAX_ORDERS + 1) / MAX_ORDERS_PER_USER);
      const placed = [];
      for (let u = 0; u < users; u++) {
        for (let i = 0; i < MAX_ORDERS_PER_USER; i++)
          placed.push(await orders.create(`u${u}`, items));
      }
      const forgotten = placed.length - MAX_ORDERS;
      expect(forgotten).toBeGreaterThan(0);
      for (const order of placed.slice(0, forgotten)) expect(orders.find(order.id)).toBeUndefined();
      for (const order of placed.slice(forgotten)) expect(orders.find(order.id)).toBe(order);
      // A forgotten order no longer counts for its owner.
      expect((await orders.create('u0', items)).ownerId).toBe('u0');
    });
  });
});
