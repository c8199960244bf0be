import { DynamicModule, Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { RealtimeModule } from '@nest-realtime/server';
import { AdminModule } from './admin/admin.module';
import { AuthModule } from './auth/auth.module';
import type { DemoConfig } from './config/realtime-env';
import { InventoryModule } from './inventory/inventory.module';
import { OpsModule } from './ops/ops.module';
import { OrdersModule } from './orders/orders.module';
import { UsersModule } from './users/users.module';
import { WebModule } from './web/web.module';

/** The demo: orders, inventory and admin modules publishing through RealtimeModule. */
@Module({})
export class AppModule {
  static forRoot(config: DemoConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        RealtimeModule.forRoot(config.realtime),
        ThrottlerModule.forRoot({ throttlers: [{ ttl: 60_000, limit: config.httpRatePerMin }] }),
        AuthModule.register({ jwtSecret: config.jwtSecret, devTokens: !config.production }),
        OrdersModule,
        InventoryModule,
        AdminModule,
        UsersModule.register({
          redis: config.realtime.redis,
          connectedHandler: config.connectedHandler,
        }),
        OpsModule.register({ metricsPublic: config.metricsPublic }),
        WebModule,
      ],
    };
  }
}
