// The two wire dialects the load clients speak, behind one small interface:
//   path({ token, subscribe })  URL path (with query) of the WebSocket endpoint
//   messagePrefix               bytes every fan-out `message` frame starts with (fast path)
//   diffPrefix                  bytes every `presence_diff` frame starts with: counted, never
//                               parsed (each watcher gets one per interval, with many user ids)
//   decode(conn, text)          any other frame -> { event, data } or null (protocol chatter,
//                               answered here); `conn.token` is the client's JWT, if any
//   payloadOf(text)             the publish payload inside a `message` frame
//   encode(event, data)         a client frame
//
// `ws` is the project's own protocol (the demo and the two ws peers). `socketio` is engine.io v4
// + socket.io v5 packets over a raw WebSocket, which avoids socket.io-client's per-connection
// weight and keeps the client cost comparable across servers.

const project = {
  name: 'ws',
  path({ token, subscribe }) {
    const query = new URLSearchParams();
    if (token) query.set('token', token);
    if (subscribe) query.set('subscribe', subscribe);
    const qs = query.toString();
    return qs ? `/ws?${qs}` : '/ws';
  },
  messagePrefix: Buffer.from('{"event":"message"'),
  diffPrefix: Buffer.from('{"event":"presence_diff"'),
  decode(_conn, text) {
    const frame = JSON.parse(text);
    return { event: frame.event, data: frame.data };
  },
  payloadOf(text) {
    return JSON.parse(text).data.payload;
  },
  encode(event, data) {
    return JSON.stringify({ event, data });
  },
};

const socketio = {
  name: 'socketio',
  path({ subscribe }) {
    // The token travels in the CONNECT packet's auth object (see decode), as Socket.IO v4 apps do.
    const query = new URLSearchParams({ EIO: '4', transport: 'websocket' });
    if (subscribe) query.set('subscribe', subscribe);
    return `/socket.io/?${query}`;
  },
  messagePrefix: Buffer.from('42["message",'),
  decode(conn, text) {
    const type = text[0];
    if (type === '0') {
      // engine.io OPEN: join the main namespace.
      conn.sendText(conn.token ? `40${JSON.stringify({ token: conn.token })}` : '40');
      return null;
    }
    if (type === '2') {
      conn.sendText('3'); // engine.io PING -> PONG
      return null;
    }
    if (type === '1') return { event: 'error', data: { message: 'engine.io close' } };
    if (type !== '4') return null;
    const packet = text[1];
    if (packet === '2') {
      const [event, data] = JSON.parse(text.slice(2));
      return { event, data };
    }
    if (packet === '4') return { event: 'error', data: JSON.parse(text.slice(2) || '{}') };
    if (packet === '1') return { event: 'error', data: { message: 'namespace disconnect' } };
    return null; // '40{"sid":...}': namespace joined; the server's `connected` event follows.
  },
  payloadOf(text) {
    return JSON.parse(text.slice(2))[1].payload;
  },
  encode(event, data) {
    return `42${JSON.stringify([event, data])}`;
  },
};

export const protocols = { ws: project, socketio };
