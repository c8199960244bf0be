import type { ClientOptions } from 'ws';
import type { ProtectedApp } from './protected-app';
import type { ConnectResult, TestClient } from './ws-client';

export type Refusal = Extract<ConnectResult, { kind: 'refused' }>;

/**
 * Attempts a handshake that must be refused with `status`: an HTTP answer,
 * never an upgrade, and no connection registered on the server.
 */
export async function expectRefused(
  app: ProtectedApp,
  status: number,
  query: Record<string, string> = {},
  options: ClientOptions = {},
): Promise<Refusal> {
  const before = app.stats().connections;
  const result = await app.tryConnect(query, options);
  if (result.kind !== 'refused') {
    throw new Error(
      `expected a ${status} refusal, got ${result.kind === 'open' ? 'an upgrade' : result.error.message}`,
    );
  }
  expect(result.status).toBe(status);
  expect(result.headers?.upgrade).toBeUndefined();
  expect(result.body).not.toMatch(/\bat\s|node_modules|\.ts\b/);
  expect(app.stats().connections).toBe(before);
  return result;
}

/** Attempts a handshake that must be upgraded; resolves with the client, `connected` received. */
export async function expectAccepted(
  app: ProtectedApp,
  query: Record<string, string> = {},
  options: ClientOptions = {},
): Promise<TestClient> {
  const result = await app.tryConnect(query, options);
  if (result.kind !== 'open') {
    throw new Error(
      `expected an upgrade, got ${result.kind === 'refused' ? `${result.status} ${result.body}` : result.error.message}`,
    );
  }
  expect(result.client.frames[0].event).toBe('connected');
  return result.client;
}
