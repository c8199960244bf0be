import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { RealtimeWsAdapter } from '@nest-realtime/server';
import { AppModule } from './app.module';
import { demoConfigFromEnv } from './config/realtime-env';

async function bootstrap(): Promise<void> {
  const config = demoConfigFromEnv();
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config));
  // Nothing tells a prober which framework answers.
  app.disable('x-powered-by');
  app.useWebSocketAdapter(new RealtimeWsAdapter(app));
  // SIGTERM: close sockets with 1001, finish in-flight work, then exit 0 (not re-raise the signal).
  app.enableShutdownHooks([], { useProcessExit: true });
  await app.listen(config.port);
  const redis = config.realtime.redis;
  const engine = redis?.cluster
    ? 'Redis engine on Redis Cluster'
    : redis
      ? 'Redis engine'
      : 'in-memory engine, one process';
  Logger.log(
    `demo listening on http://localhost:${config.port} (WebSocket at /ws, ${engine})`,
    'Demo',
  );
}

bootstrap().catch((error: unknown) => {
  Logger.error((error as Error)?.message ?? String(error), 'Demo');
  process.exit(1);
});
