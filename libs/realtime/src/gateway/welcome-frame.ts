import type { ConnectedFrameData } from '../protocol';
import { frameParts, type OutboundFrame } from '../framing/outbound-frame';

/**
 * The `connected` frame every connection gets first (PROTOCOL.md §1), written
 * from a template: the same bytes as serializing `{ event: 'connected', data }`
 * (welcome-frame.spec.ts compares them), without building two objects and
 * walking them on every handshake. Each value goes through JSON.stringify, as
 * it would in the object.
 */
export function welcomeFrame(data: ConnectedFrameData): OutboundFrame {
  const { connectionId, userId, heartbeatMs, expiresAt } = data;
  return frameParts([
    `{"event":"connected","data":{"connectionId":${JSON.stringify(connectionId)},` +
      `"userId":${JSON.stringify(userId)},"heartbeatMs":${JSON.stringify(heartbeatMs)},` +
      `"expiresAt":${JSON.stringify(expiresAt)}}}`,
  ]);
}
