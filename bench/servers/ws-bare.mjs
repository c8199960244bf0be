// Peer: bare `ws`. JSON is serialized once per publish (in ws-peer.mjs) and `ws.send(string)` is
// called for every subscriber, so `ws` builds one frame per socket. This is how a hand-written
// `ws` server usually fans out, and the practical baseline the demo is compared with.
import { startWsPeer } from './ws-peer.mjs';

const OPEN = 1;

startWsPeer('ws-bare', (subscribers, json) => {
  for (const ws of subscribers) {
    if (ws.readyState === OPEN) ws.send(json);
  }
});
