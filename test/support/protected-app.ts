import type { INestApplication, LogLevel, Provider } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  BroadcastService,
  type NamespacePolicy,
  RealtimeLifecycleService,
  RealtimeModule,
  type RealtimeModuleOptions,
  type RealtimeStats,
  RealtimeWsAdapter,
  RevocationService,
} from '@nest-realtime/server';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ClientOptions } from 'ws';
import { type JwtClaims, nowSeconds, signJwt } from './jwt';
import { within } from './waits';
import { ClientPool } from './client-pool';
import type { ConnectResult, TestClient } from './ws-client';

export const PROTECTED_JWT_SECRET = 'protection-suite-secret-0123456789-abcdefghijklmnop';
export const ALLOWED_ORIGIN = 'https://app.example.com';

/** Namespaces of the protection suite: one of each policy kind. */
export const PROTECTED_TOPICS: Record<string, NamespacePolicy> = {
  news: { subscribe: 'public' },
  orders: { subscribe: 'authenticated' },
  user: { subscribe: 'owner' },
  admin: { subscribe: { roles: ['admin'] } },
  chat: { subscribe: 'authenticated', publish: 'authenticated' },
};

/** Limits loose enough that a test never hits one it is not about. */
const RELAXED: RealtimeModuleOptions = {
  jwt: { secret: PROTECTED_JWT_SECRET, algorithms: ['HS256'], clockToleranceSec: 0 },
  allowedOrigins: [ALLOWED_ORIGIN],
  allowAnonymous: true,
  topics: PROTECTED_TOPICS,
  limits: {
    maxConnections: 1_000,
    maxConnectionsPerIp: 1_000,
    maxConnectionsPerUser: 100,
    connectRate: 100_000,
    messageRate: 100_000,
    // Tests open many sockets at once from one address.
    maxPendingPerIp: 1_000,
  },
  heartbeat: { intervalMs: 30_000, pongTimeoutMs: 10_000 },
  shutdown: { graceMs: 1_000 },
};

export interface ProtectedAppOptions {
  /** Laid over RELAXED; jwt, limits, network, heartbeat, history and shutdown merge key by key. */
  realtime?: RealtimeModuleOptions;
  /** Serve HTTPS (and so `wss://`) with this key and certificate. */
  httpsOptions?: { key: string; cert: string };
  providers?: Provider[];
  logger?: false | LogLevel[];
}

export interface TokenOptions {
  /** Seconds from now to `exp` (default 3600); ignored when `exp` is given. */
  ttlSeconds?: number;
  /** Absolute `exp` in seconds; null leaves the claim out. */
  exp?: number | null;
  roles?: string[];
  /** Default: a fresh UUID; null leaves the claim out. */
  jti?: string | null;
  /** Default: now; null leaves the claim out. */
  iat?: number | null;
  secret?: string;
  header?: JwtClaims;
  extra?: JwtClaims;
}

/**
 * An app that imports nothing but `RealtimeModule.forRoot({...})` from the
 * library, with the precise options a protection test needs (short windows,
 * small limits, clock tolerance 0, trusted proxies, TLS).
 */
export class ProtectedApp {
  private readonly pool = new ClientPool();
  private closing: Promise<void> | undefined;

  private constructor(
    readonly app: INestApplication,
    readonly port: number,
    readonly options: RealtimeModuleOptions,
    private readonly secure: boolean,
  ) {}

  static async start(options: ProtectedAppOptions = {}): Promise<ProtectedApp> {
    const realtime = mergeOptions(RELAXED, options.realtime ?? {});

    @Module({ imports: [RealtimeModule.forRoot(realtime)], providers: options.providers ?? [] })
    class ProtectedRootModule {}

    const moduleRef = await Test.createTestingModule({ imports: [ProtectedRootModule] }).compile();
    const app = moduleRef.createNestApplication({
      logger: options.logger ?? ['error', 'warn'],
      httpsOptions: options.httpsOptions,
    });
    app.useWebSocketAdapter(new RealtimeWsAdapter(app));
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    return new ProtectedApp(app, port, realtime, options.httpsOptions !== undefined);
  }

  url(query: Record<string, string> = {}): string {
    const search = new URLSearchParams(query).toString();
    const scheme = this.secure ? 'wss' : 'ws';
    return `${scheme}://127.0.0.1:${this.port}${this.options.path ?? '/ws'}${search ? `?${search}` : ''}`;
  }

  get secret(): string {
    return this.options.jwt?.secret ?? PROTECTED_JWT_SECRET;
  }

  /** A token signed with the app's key; every claim can be left out or forced. */
  token(sub: string, options: TokenOptions = {}): string {
    const now = nowSeconds();
    const claims: JwtClaims = { sub, roles: options.roles ?? [], ...options.extra };
    const exp = options.exp === undefined ? now + (options.ttlSeconds ?? 3600) : options.exp;
    if (exp !== null) claims.exp = exp;
    const iat = options.iat === undefined ? now : options.iat;
    if (iat !== null) claims.iat = iat;
    const jti = options.jti === undefined ? randomUUID() : options.jti;
    if (jti !== null) claims.jti = jti;
    return signJwt(claims, options.secret ?? this.secret, options.header);
  }

  /** Connects and waits for `connected` (closed automatically by stop()). */
  async connect(
    query: Record<string, string> = {},
    options: ClientOptions = {},
  ): Promise<TestClient> {
    return this.pool.connect(this.url(query), options);
  }

  /** Connects as `sub` with a fresh token passed in `?token=`. */
  connectAs(
    sub: string,
    token: TokenOptions = {},
    options: ClientOptions = {},
  ): Promise<TestClient> {
    return this.connect({ token: this.token(sub, token) }, options);
  }

  /** Attempts a handshake and reports how it ended; never throws. */
  async tryConnect(
    query: Record<string, string> = {},
    options: ClientOptions = {},
  ): Promise<ConnectResult> {
    const result = await this.pool.tryConnect(this.url(query), options);
    if (result.kind === 'open') await result.client.waitFor((f) => f.event === 'connected');
    return result;
  }

  get broadcasts(): BroadcastService {
    return this.app.get(BroadcastService, { strict: false });
  }

  get revocations(): RevocationService {
    return this.app.get(RevocationService, { strict: false });
  }

  get lifecycle(): RealtimeLifecycleService {
    return this.app.get(RealtimeLifecycleService, { strict: false });
  }

  stats(): RealtimeStats {
    return this.broadcasts.stats();
  }

  /** Polls the server's own view until it holds `count` connections. */
  async waitForConnections(count: number, timeoutMs = 3_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.stats().connections !== count) {
      if (Date.now() > deadline) {
        throw new Error(`server holds ${this.stats().connections} connections, expected ${count}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** app.close(), once (the clients are left as they are: shutdown tests watch them). */
  close(): Promise<void> {
    this.closing ??= this.app.close();
    return this.closing;
  }

  async stop(): Promise<void> {
    await this.pool.closeAll((c) => within(c.close(), 3_000, 'client close'));
    await this.close();
  }
}

const NESTED = ['jwt', 'limits', 'network', 'heartbeat', 'history', 'shutdown'] as const;

function mergeOptions(
  base: RealtimeModuleOptions,
  over: RealtimeModuleOptions,
): RealtimeModuleOptions {
  const merged: Record<string, unknown> = { ...base, ...over };
  for (const key of NESTED) merged[key] = { ...base[key], ...over[key] };
  return merged;
}
