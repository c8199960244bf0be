import { Module } from '@nestjs/common';
import { RealtimeModule } from '@nest-realtime/server';
import { OrdersController } from './orders.controller';
import { OrdersService } from './orders.service';

@Module({
  imports: [
    RealtimeModule.forRoot({
      jwt: { secret: 'a-secret-of-this-app-long-enough-for-hs256', algorithms: ['HS256'] },
      allowAnonymous: true,
      topics: { orders: { subscribe: 'public' } },
    }),
  ],
  controllers: [OrdersController],
  providers: [OrdersService],
})
export class AppModule {}
