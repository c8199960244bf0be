import { RealtimeClient } from '@nest-realtime/client';
import WebSocket from 'ws';
import type { ShopEvents } from './shop-events';

/** A Node service listening to the orders topic with the client package; prints what it gets. */
const client = new RealtimeClient<ShopEvents>({ url: String(process.env.REALTIME_URL), WebSocket });
const orders = client.subscribe('orders', (message) => {
  console.log(JSON.stringify({ type: message.type, order: message.payload }));
  client.close();
});
orders.ready.then(
  () => console.log('subscribed'),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
    client.close();
  },
);
client.connect();
