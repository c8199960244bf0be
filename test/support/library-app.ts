import type { INestApplication, ModuleMetadata, Provider } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import {
  RealtimeModule,
  type RealtimeModuleOptions,
  RealtimeWsAdapter,
} from '@nest-realtime/server';
import type { AddressInfo } from 'node:net';
import type { ClientOptions } from 'ws';
import { ClientPool } from './client-pool';
import type { TestClient } from './ws-client';

export const LIBRARY_JWT_SECRET = 'library-test-secret-long-enough-for-hs256-0123456789';

/** Limits loose enough that tests which are not about limits never hit them. */
const RELAXED_LIMITS: NonNullable<RealtimeModuleOptions['limits']> = {
  maxConnections: 1_000,
  maxConnectionsPerIp: 1_000,
  maxConnectionsPerUser: 100,
  connectRate: 100_000,
  messageRate: 100_000,
  // Tests open many sockets at once from one address.
  maxPendingPerIp: 1_000,
};

export interface LibraryAppOptions {
  /** Laid over a development profile with anonymous connections allowed and relaxed limits. */
  realtime: RealtimeModuleOptions;
  /** Extra providers of the root module (custom TopicAuthorizers and what they inject). */
  providers?: Provider[];
  imports?: ModuleMetadata['imports'];
  /** Nest logger levels; false silences it (for tests that make the library log on purpose). */
  logger?: false | Array<'error' | 'warn' | 'log'>;
  /** A fixed port (to restart an app where its clients expect it); a free one by default. */
  port?: number;
  /** Replaces library providers with test doubles of the same port (e.g. an Admission that waits). */
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
}

/**
 * A minimal app that imports only `RealtimeModule.forRoot({...})` from the
 * library, with the test's own topic policies and providers: what a user of
 * the library (not of the demo) writes.
 */
export class LibraryApp {
  private readonly pool = new ClientPool();
  private readonly signer = new JwtService({ secret: LIBRARY_JWT_SECRET });

  private constructor(
    readonly app: INestApplication,
    readonly port: number,
    readonly path: string,
  ) {}

  static async start(options: LibraryAppOptions): Promise<LibraryApp> {
    const { realtime } = options;
    const resolved: RealtimeModuleOptions = {
      jwt: { secret: LIBRARY_JWT_SECRET, algorithms: ['HS256'] },
      allowAnonymous: true,
      ...realtime,
      limits: { ...RELAXED_LIMITS, ...realtime.limits },
    };

    @Module({
      imports: [RealtimeModule.forRoot(resolved), ...(options.imports ?? [])],
      providers: options.providers ?? [],
    })
    class LibraryRootModule {}

    const builder = Test.createTestingModule({ imports: [LibraryRootModule] });
    const moduleRef = await (options.override?.(builder) ?? builder).compile();
    const app = moduleRef.createNestApplication({ logger: options.logger ?? ['error', 'warn'] });
    app.useWebSocketAdapter(new RealtimeWsAdapter(app));
    await app.listen(options.port ?? 0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    return new LibraryApp(app, port, resolved.path ?? '/ws');
  }

  wsUrl(query: Record<string, string> = {}): string {
    const search = new URLSearchParams(query).toString();
    return `ws://127.0.0.1:${this.port}${this.path}${search ? `?${search}` : ''}`;
  }

  /** Signs a token with the app's key (what an identity provider would hand the client). */
  token(userId: string, roles: string[] = [], ttlSeconds = 3600): string {
    return this.signer.sign({ sub: userId, roles }, { algorithm: 'HS256', expiresIn: ttlSeconds });
  }

  /** Connects, as `userId` when given (closed automatically by stop()). */
  async connect(
    userId?: string,
    roles: string[] = [],
    options: ClientOptions = {},
  ): Promise<TestClient> {
    const query: Record<string, string> =
      userId === undefined ? {} : { token: this.token(userId, roles) };
    return this.pool.connect(this.wsUrl(query), options);
  }

  tryConnect(query: Record<string, string> = {}, options: ClientOptions = {}) {
    return this.pool.tryConnect(this.wsUrl(query), options);
  }

  async stop(): Promise<void> {
    await this.pool.closeAll();
    await this.app.close();
  }
}
