// Peer: `ws` with a pre-built frame. The WebSocket frame (header + UTF-8 payload) is built once
// per publish and the same buffer is written to every subscriber's TCP socket, skipping ws's
// per-socket Sender. Safe here because no extension (permessage-deflate) is negotiated, so ws
// never has a frame of its own half-written on these sockets.
import { Sender } from 'ws'; // WebSocket.Sender in CommonJS; the ESM entry exports it by name
import { startWsPeer } from './ws-peer.mjs';

const OPEN = 1;
const FRAME_OPTIONS = { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false };

startWsPeer('ws-preframed', (subscribers, json) => {
  // Sender.frame returns [header, payload]; one buffer means one write() per socket.
  const frame = Buffer.concat(Sender.frame(Buffer.from(json), FRAME_OPTIONS));
  for (const ws of subscribers) {
    if (ws.readyState === OPEN) ws._socket.write(frame);
  }
});
