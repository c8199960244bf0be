// Pieces shared by the peer servers: configuration from the environment (the same variables the
// demo reads), an HTTP server with /health, JWT checks and the wire frames they all send.
import http from 'node:http';
import { verifyToken } from '../lib/jwt.mjs';

export const PORT = Number(process.env.PORT);
export const JWT_SECRET = process.env.JWT_SECRET;
/** Peers do no heartbeat of their own (Socket.IO has its built-in one); reported as-is. */
export const HEARTBEAT_MS = 0;

if (!PORT || !JWT_SECRET) {
  console.error('PORT and JWT_SECRET are required');
  process.exit(2);
}

/** HTTP server answering GET /health; WebSocket upgrades are attached by each peer. */
export function createHttpServer() {
  return http.createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    res.writeHead(404).end();
  });
}

export function listen(server, name) {
  server.listen(PORT, '127.0.0.1', () => console.log(`${name} listening on ${PORT}`));
}

/**
 * Authenticates a connection: no token means anonymous (`{ userId: null }`), a bad token means
 * refused (null), a good one yields the user id and token expiry.
 */
export function authenticate(token) {
  if (!token) return { userId: null, expiresAt: null };
  const claims = verifyToken(token, JWT_SECRET);
  if (!claims || claims.sub === undefined) return null;
  return { userId: String(claims.sub), expiresAt: claims.exp ? claims.exp * 1000 : null };
}

let connectionCounter = 0;

export function connectedData(auth) {
  connectionCounter += 1;
  return {
    connectionId: `c${connectionCounter}`,
    userId: auth.userId,
    heartbeatMs: HEARTBEAT_MS,
    expiresAt: auth.expiresAt,
  };
}

/** Per-topic monotonically increasing offsets, as strings like the demo's. */
const offsets = new Map();

export function currentOffset(topic) {
  return String(offsets.get(topic) ?? 0);
}

export function nextOffset(topic) {
  const next = (offsets.get(topic) ?? 0) + 1;
  offsets.set(topic, next);
  return String(next);
}

/** The topics a client asked for in `?subscribe=a,b` or a `subscribe` frame, sanitized. */
export function topicList(value) {
  const list = Array.isArray(value) ? value : String(value ?? '').split(',');
  return list.filter((t) => typeof t === 'string' && t.length > 0 && t.length <= 128);
}

export function isValidPublish(data) {
  return data && typeof data.topic === 'string' && typeof data.type === 'string';
}
