import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { RealtimeWsAdapter } from '@nest-realtime/server';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.useWebSocketAdapter(new RealtimeWsAdapter(app));
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT), '127.0.0.1');
  console.log('listening');
}

void bootstrap();
