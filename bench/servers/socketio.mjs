// Peer: Socket.IO 4 as an application would use it: JWT checked in a middleware (token in the
// CONNECT packet's `auth`), topics as rooms, `io.to(topic).emit('message', ...)` for fan-out.
// WebSocket transport only, no long-polling, so the load client can speak raw engine.io.
// With REDIS_URL, instances share rooms through `@socket.io/redis-adapter` (its documented setup:
// one ioredis publisher and a duplicate as subscriber).
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import {
  authenticate,
  connectedData,
  createHttpServer,
  currentOffset,
  isValidPublish,
  listen,
  nextOffset,
  topicList,
} from './common.mjs';

const server = createHttpServer();
const io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  maxHttpBufferSize: 64 * 1024,
});

if (process.env.REDIS_URL) {
  const pubClient = new Redis(process.env.REDIS_URL);
  const subClient = pubClient.duplicate();
  io.adapter(createAdapter(pubClient, subClient));
}

io.use((socket, next) => {
  const auth = authenticate(socket.handshake.auth?.token ?? socket.handshake.query.token);
  if (!auth) {
    next(new Error('unauthorized'));
    return;
  }
  socket.data.auth = auth;
  next();
});

function subscribe(socket, requested, ref) {
  const granted = requested.map((topic) => ({ topic, offset: currentOffset(topic) }));
  socket.join(requested);
  socket.emit('subscribed', { ref, topics: granted });
}

io.on('connection', (socket) => {
  const { auth } = socket.data;
  socket.emit('connected', connectedData(auth));
  const initialTopics = topicList(socket.handshake.query.subscribe);
  if (initialTopics.length > 0) subscribe(socket, initialTopics, undefined);

  socket.on('subscribe', (data) => subscribe(socket, topicList(data?.topics), data?.ref));
  socket.on('publish', (data) => {
    if (!auth.userId) {
      socket.emit('error', { ref: data?.ref, code: 'UNAUTHENTICATED', message: 'login required' });
      return;
    }
    if (!isValidPublish(data)) {
      socket.emit('error', {
        ref: data?.ref,
        code: 'BAD_REQUEST',
        message: 'topic and type required',
      });
      return;
    }
    const offset = nextOffset(data.topic);
    io.to(data.topic).emit('message', {
      topic: data.topic,
      type: data.type,
      payload: data.payload,
      offset,
      ts: Date.now(),
    });
    socket.emit('published', { ref: data.ref, offset });
  });
});

listen(server, 'socketio');
