// A minimal server for the project's wire protocol on top of `ws`, used by the ws-bare and
// ws-preframed peers. It does what the demo must do for the benchmark (JWT check at upgrade,
// connect-time and frame subscriptions, authenticated publish, fan-out) and nothing more, so it
// marks the practical floor for a server written directly on `ws`. Only the fan-out differs
// between the two peers and is passed in as `broadcast(subscribers, json)`.
import { WebSocketServer } from 'ws';
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

export function startWsPeer(name, broadcast) {
  /** topic -> Set<WebSocket> */
  const topics = new Map();
  const server = createHttpServer();
  // clientTracking off: the topic sets are the only registry a bare server needs.
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: 64 * 1024,
  });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    const auth = authenticate(url.searchParams.get('token'));
    if (!auth) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      onConnection(ws, auth, topicList(url.searchParams.get('subscribe')));
    });
  });

  function send(ws, event, data) {
    ws.send(JSON.stringify({ event, data }));
  }

  function subscribe(ws, requested, ref) {
    const granted = [];
    for (const topic of requested) {
      let subscribers = topics.get(topic);
      if (!subscribers) topics.set(topic, (subscribers = new Set()));
      subscribers.add(ws);
      if (!ws.subscriptions.includes(topic)) ws.subscriptions.push(topic);
      granted.push({ topic, offset: currentOffset(topic) });
    }
    send(ws, 'subscribed', { ref, topics: granted });
  }

  function publish(ws, data) {
    if (!ws.userId) {
      send(ws, 'error', { ref: data?.ref, code: 'UNAUTHENTICATED', message: 'login required' });
      return;
    }
    if (!isValidPublish(data)) {
      send(ws, 'error', {
        ref: data?.ref,
        code: 'BAD_REQUEST',
        message: 'topic and type required',
      });
      return;
    }
    const offset = nextOffset(data.topic);
    const message = {
      event: 'message',
      data: { topic: data.topic, type: data.type, payload: data.payload, offset, ts: Date.now() },
    };
    const subscribers = topics.get(data.topic);
    // Serialize once per publish, whatever the fan-out strategy.
    if (subscribers) broadcast(subscribers, JSON.stringify(message));
    send(ws, 'published', { ref: data.ref, offset });
  }

  function onConnection(ws, auth, initialTopics) {
    ws.userId = auth.userId;
    ws.subscriptions = [];
    send(ws, 'connected', connectedData(auth));
    if (initialTopics.length > 0) subscribe(ws, initialTopics, undefined);

    ws.on('message', (raw, isBinary) => {
      let frame;
      try {
        frame = JSON.parse(isBinary ? raw : raw.toString());
      } catch {
        send(ws, 'error', { code: 'BAD_FRAME', message: 'invalid JSON' });
        return;
      }
      if (frame?.event === 'subscribe')
        subscribe(ws, topicList(frame.data?.topics), frame.data?.ref);
      else if (frame?.event === 'publish') publish(ws, frame.data);
      else if (frame?.event === 'ping') send(ws, 'pong', { ref: frame.data?.ref });
      else send(ws, 'error', { code: 'UNKNOWN_EVENT', message: String(frame?.event) });
    });
    ws.on('close', () => {
      for (const topic of ws.subscriptions) topics.get(topic)?.delete(ws);
    });
    ws.on('error', () => {});
  }

  listen(server, name);
}
