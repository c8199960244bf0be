// A deliberately small WebSocket client over `net`, so one load process can hold thousands of
// subscribers and count their frames cheaply: no per-frame objects, strings or events, only a
// header parse and a callback with (buffer, start, end). It does the opening handshake, answers
// pings, echoes close frames and masks what it sends, as RFC 6455 requires of clients. It offers
// no extensions (no permessage-deflate), and does not check Sec-WebSocket-Accept (the server
// computes it anyway, which is the part that costs).
import { randomBytes, randomFillSync } from 'node:crypto';
import net from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_FRAME = 16 * 1024 * 1024;
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

// Every socket of the process reads into this one buffer (net's `onread`), which skips the
// readable-stream machinery and a buffer allocation per read: with one frame per read, that is
// most of the client's user-space cost. Bytes that must outlive a read are copied.
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** Encodes one masked client frame. */
export function encodeFrame(opcode, payload) {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + 4 + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  randomFillSync(frame, header, 4);
  for (let i = 0; i < length; i++) frame[header + 4 + i] = payload[i] ^ frame[header + (i & 3)];
  return frame;
}

/**
 * One client connection. `handler` is shared by all connections of a process (fewer closures):
 *   onOpen(conn)                       upgrade accepted
 *   onText(conn, buffer, start, end)   one complete text message (buffer is only valid now)
 *   onClose(conn, reason)              socket gone; reason is a string or null for a clean close
 */
export class RawWebSocket {
  constructor({ host, port, path, handler, localAddress }) {
    this.handler = handler;
    this.state = 'handshake'; // -> 'open' -> 'closing' (close frame seen) -> 'closed'
    this.closeReason = null;
    this.pending = null; // unparsed bytes (a copy) carried over to the next read
    this.fragments = null; // parts of a fragmented text message
    this.socket = net.connect({
      host,
      port,
      localAddress,
      onread: {
        buffer: READ_BUFFER,
        callback: (nread, buf) => this.onData(buf.subarray(0, nread)),
      },
    });
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => this.writeHandshake(host, port, path));
    this.socket.on('error', (err) => this.fail(err.code ?? err.message));
    this.socket.on('close', () => this.onSocketClose());
  }

  writeHandshake(host, port, path) {
    this.socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
        'Sec-WebSocket-Version: 13\r\n\r\n',
    );
  }

  get open() {
    return this.state === 'open';
  }

  get closed() {
    return this.state === 'closed';
  }

  sendText(text) {
    if (this.state !== 'open') return false;
    this.socket.write(encodeFrame(OP_TEXT, Buffer.from(text)));
    return true;
  }

  /** Closes without a close handshake; the server sees the TCP FIN. */
  destroy(reason = null) {
    if (this.closeReason === null) this.closeReason = reason;
    this.socket.destroy();
  }

  fail(reason) {
    if (this.closeReason === null) this.closeReason = String(reason);
    this.socket.destroy();
  }

  onSocketClose() {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.pending = null;
    this.handler.onClose(this, this.closeReason);
  }

  onData(chunk) {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let offset = 0;
    if (this.state === 'handshake') {
      const end = buf.indexOf(HEADER_END);
      if (end === -1) {
        if (buf.length > 16384) this.fail('handshake response too large');
        else this.pending = Buffer.from(buf);
        return;
      }
      const statusLine = buf.toString('latin1', 0, buf.indexOf('\r\n'));
      if (!/^HTTP\/1\.1 101 /.test(statusLine)) {
        this.fail(statusLine || 'bad handshake response');
        return;
      }
      this.state = 'open';
      offset = end + 4;
      this.handler.onOpen(this);
    }
    const length = buf.length;
    while (offset + 2 <= length) {
      const b0 = buf[offset];
      const b1 = buf[offset + 1];
      let size = b1 & 0x7f;
      let header = 2;
      if (size === 126) {
        if (offset + 4 > length) break;
        size = buf.readUInt16BE(offset + 2);
        header = 4;
      } else if (size === 127) {
        if (offset + 10 > length) break;
        size = buf.readUInt32BE(offset + 2) * 2 ** 32 + buf.readUInt32BE(offset + 6);
        header = 10;
      }
      if (b1 & 0x80 || size > MAX_FRAME) {
        this.fail('protocol error: masked or oversized server frame');
        return;
      }
      const start = offset + header;
      const end = start + size;
      if (end > length) break;
      offset = end;
      if (this.state !== 'open') return;
      this.onFrame(b0, buf, start, end);
    }
    if (offset < length) this.pending = Buffer.from(buf.subarray(offset));
  }

  onFrame(b0, buf, start, end) {
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if (opcode === OP_TEXT && fin) {
      this.handler.onText(this, buf, start, end);
    } else if (opcode === OP_TEXT || (opcode === OP_CONTINUATION && this.fragments)) {
      // Servers here never fragment small messages; handled for correctness only.
      (this.fragments ??= []).push(Buffer.from(buf.subarray(start, end)));
      if (fin) {
        const whole = Buffer.concat(this.fragments);
        this.fragments = null;
        this.handler.onText(this, whole, 0, whole.length);
      }
    } else if (opcode === OP_PING) {
      this.socket.write(encodeFrame(OP_PONG, buf.subarray(start, end)));
    } else if (opcode === OP_CLOSE) {
      const code = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
      const reason = buf.toString('utf8', Math.min(start + 2, end), end);
      if (this.closeReason === null) {
        this.closeReason = `server closed ${code}${reason ? ` ${reason}` : ''}`;
      }
      this.state = 'closing';
      this.socket.end(encodeFrame(OP_CLOSE, buf.subarray(start, Math.min(start + 2, end))));
    }
    // Binary frames and pongs are ignored.
  }
}
