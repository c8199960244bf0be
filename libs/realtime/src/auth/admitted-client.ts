import type { IncomingMessage } from 'node:http';
import type { AdmittedClient } from './handshake.service';

const ADMITTED = Symbol('realtime.admitted');

type AdmittedRequest = IncomingMessage & { [ADMITTED]?: AdmittedClient };

/** The handshake's verdict travels on the upgrade request to the connection it creates. */
export function markAdmitted(req: IncomingMessage, client: AdmittedClient): void {
  (req as AdmittedRequest)[ADMITTED] = client;
}

export function admittedClientOf(req: IncomingMessage): AdmittedClient | undefined {
  return (req as AdmittedRequest)[ADMITTED];
}
