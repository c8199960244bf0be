import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProtectedApp } from '../support/protected-app';
import { tryConnect } from '../support/ws-client';

// Real timers (expiry, heartbeat, grace periods): more than Jest's default 5 s per test.
jest.setTimeout(20_000);

/** A throw-away self-signed certificate for localhost and 127.0.0.1, made by openssl. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'realtime-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore', timeout: 20_000 },
    );
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The app served over HTTPS: `wss://` works end to end, handshake checks included. */
describe('TLS (wss://)', () => {
  let app: ProtectedApp;
  let tls: { key: string; cert: string };

  beforeAll(async () => {
    tls = selfSignedCertificate();
    app = await ProtectedApp.start({
      httpsOptions: tls,
      realtime: { limits: { handshakeTimeoutMs: 500 } },
    });
  });
  afterAll(() => app.stop());

  it('accepts wss:// from a client that trusts the certificate, and carries messages', async () => {
    expect(app.url()).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/ws$/);
    const client = await app.connect(
      { token: app.token('alice'), subscribe: 'news' },
      { ca: tls.cert },
    );
    expect(client.frames[0].data.userId).toBe('alice');
    const socket = (
      client.socket as unknown as { _socket: { encrypted?: boolean; getProtocol(): string } }
    )._socket;
    expect(socket.encrypted).toBe(true);
    expect(socket.getProtocol()).toMatch(/^TLSv1\.[23]$/);
    await client.waitFor((f) => f.event === 'subscribed');
    await app.broadcasts.publish('news', 'over.tls', { secure: true });
    const message = await client.waitFor((f) => f.event === 'message');
    expect(message.data).toMatchObject({
      topic: 'news',
      type: 'over.tls',
      payload: { secure: true },
    });
    expect((await client.request('ping')).event).toBe('pong');
  });

  it('keeps wss:// connections past the handshake timeout (the TLS socket is no longer pending)', async () => {
    const client = await app.connect({}, { ca: tls.cert });
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(client.isOpen).toBe(true);
    expect((await client.request('ping')).event).toBe('pong');
  });

  it('accepts a client that skips verification (rejectUnauthorized: false)', async () => {
    const client = await app.connect({}, { rejectUnauthorized: false });
    expect(client.frames[0].event).toBe('connected');
  });

  it('still refuses bad handshakes with HTTP statuses over TLS', async () => {
    const refused = await tryConnect(app.url({ token: 'garbage' }), { ca: tls.cert });
    expect(refused).toMatchObject({ kind: 'refused', status: 401 });
    const origin = await tryConnect(app.url(), {
      ca: tls.cert,
      origin: 'https://evil.example.com',
    });
    expect(origin).toMatchObject({ kind: 'refused', status: 403 });
  });

  it('is really TLS: an untrusted certificate and plain ws:// both fail', async () => {
    const untrusted = await tryConnect(app.url());
    expect(untrusted.kind).toBe('error');
    if (untrusted.kind === 'error') expect(untrusted.error.message).toMatch(/self[- ]signed/i);
    const plain = await tryConnect(app.url().replace(/^wss:/, 'ws:'));
    expect(plain.kind).not.toBe('open');
    expect(app.stats().connections).toBe(3);
  });
});
