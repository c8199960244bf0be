import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RealtimeWsAdapter } from '@nest-realtime/server';
import type { AddressInfo } from 'node:net';
import type { ClientOptions } from 'ws';
import { AppModule } from '../../src/app.module';
import { demoConfigFromEnv } from '../../src/config/realtime-env';
import { ClientPool } from './client-pool';
import { type HttpReply, requestJson } from './http';
import type { TestClient } from './ws-client';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

/** Limits loose enough that tests which are not about limits never hit them. */
const RELAXED_ENV: NodeJS.ProcessEnv = {
  JWT_SECRET: TEST_JWT_SECRET,
  REALTIME_ALLOWED_ORIGINS: 'http://localhost:3000,https://app.example.com',
  REALTIME_MAX_CONNECTIONS_PER_IP: '1000',
  REALTIME_MAX_CONNECTIONS_PER_USER: '100',
  REALTIME_CONNECT_RATE_PER_MIN: '100000',
  REALTIME_MESSAGE_RATE_PER_MIN: '100000',
  REALTIME_MAX_PENDING_PER_IP: '1000',
  HTTP_RATE_PER_MIN: '100000',
};

/** The demo app, started through the Nest testing module on a free loopback port. */
export class DemoApp {
  private readonly pool = new ClientPool();

  private constructor(
    readonly app: INestApplication,
    readonly port: number,
  ) {}

  /** `port`: a fixed one (e.g. known before start, for an origin); a free one by default. */
  static async start(env: NodeJS.ProcessEnv = {}, port = 0): Promise<DemoApp> {
    const config = demoConfigFromEnv({ ...RELAXED_ENV, ...env });
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot(config)],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
    app.useWebSocketAdapter(new RealtimeWsAdapter(app));
    await app.listen(port, '127.0.0.1');
    const { port: listening } = app.getHttpServer().address() as AddressInfo;
    return new DemoApp(app, listening);
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  wsUrl(query: Record<string, string> = {}): string {
    const search = new URLSearchParams(query).toString();
    return `ws://127.0.0.1:${this.port}/ws${search ? `?${search}` : ''}`;
  }

  async token(userId: string, roles: string[] = [], ttlSeconds?: number): Promise<string> {
    const response = await this.http('POST', '/auth/token', { userId, roles, ttlSeconds });
    if (response.status !== 200) throw new Error(`token request failed: ${response.status}`);
    return (response.body as { token: string }).token;
  }

  http(method: string, path: string, body?: unknown, token?: string): Promise<HttpReply> {
    return requestJson(this.baseUrl + path, method, body, token);
  }

  /** Connects (closed automatically by stop()). */
  async connect(
    query: Record<string, string> = {},
    options: ClientOptions = {},
  ): Promise<TestClient> {
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
