// The publishing client, run inside the harness process (idle while subscribers receive). Each
// publish carries `sentAt` (wall clock, ms) for latency and a fixed filler so every server ships
// the same bytes.
import { wallNow } from '../lib/proc.mjs';
import { protocols } from './protocols.mjs';
import { RawWebSocket } from './rawws.mjs';

const FILLER = 'x'.repeat(64);

export class Publisher {
  /** Connects and resolves once the server has sent `connected`. */
  static connect({ port, protocol, token, topic, timeoutMs = 10_000 }) {
    return new Promise((resolve, reject) => {
      const publisher = new Publisher(protocols[protocol], topic);
      const timer = setTimeout(() => {
        publisher.close();
        reject(new Error(`publisher: no 'connected' within ${timeoutMs} ms`));
      }, timeoutMs);
      publisher.onReady = (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(publisher);
      };
      publisher.conn = new RawWebSocket({
        host: '127.0.0.1',
        port,
        path: publisher.proto.path({ token: protocol === 'ws' ? token : null }),
        handler: publisher,
      });
      publisher.conn.token = token;
    });
  }

  constructor(proto, topic) {
    this.proto = proto;
    this.topic = topic;
    this.seq = 0;
    this.acks = 0;
    this.errors = new Map();
    this.onReady = null;
    this.ackWaiter = null;
  }

  /** Sends one publish frame; returns false if the connection is gone. */
  publish() {
    this.seq += 1;
    const payload = { seq: this.seq, sentAt: wallNow(), filler: FILLER };
    const data = { topic: this.topic, type: 'tick', payload, ref: `p${this.seq}` };
    return this.conn.sendText(this.proto.encode('publish', data));
  }

  /** Resolves when `count` publishes in total were acknowledged, or after timeoutMs. */
  waitAcks(count, timeoutMs) {
    if (this.acks >= count) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.ackWaiter = null;
        resolve(false);
      }, timeoutMs);
      this.ackWaiter = { count, done: () => (clearTimeout(timer), resolve(true)) };
    });
  }

  takeErrors() {
    const out = Object.fromEntries(this.errors);
    this.errors.clear();
    return out;
  }

  close() {
    this.conn?.destroy();
  }

  // RawWebSocket handler interface.
  onOpen() {}

  onText(conn, buf, start, end) {
    let frame;
    try {
      frame = this.proto.decode(conn, buf.toString('utf8', start, end));
    } catch {
      return;
    }
    if (!frame) return;
    if (frame.event === 'connected') {
      this.onReady?.(null);
      this.onReady = null;
    } else if (frame.event === 'published') {
      this.acks += 1;
      if (this.ackWaiter && this.acks >= this.ackWaiter.count) {
        this.ackWaiter.done();
        this.ackWaiter = null;
      }
    } else if (frame.event === 'error') {
      const d = frame.data ?? {};
      const reason = `${d.code ?? ''} ${d.message ?? JSON.stringify(d)}`.trim();
      this.errors.set(reason, (this.errors.get(reason) ?? 0) + 1);
      if (this.onReady) {
        this.onReady(new Error(`publisher refused: ${reason}`));
        this.onReady = null;
      }
    }
  }

  onClose(_conn, reason) {
    this.onReady?.(new Error(`publisher connection closed: ${reason ?? 'clean close'}`));
    this.onReady = null;
    if (reason) this.errors.set(`closed: ${reason}`, 1);
  }
}
