import { DynamicModule, Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { HttpAuthGuard } from './http-auth.guard';
import { DevTokenController } from './dev-token.controller';

@Module({})
export class AuthModule {
  static register(options: { jwtSecret: string; devTokens: boolean }): DynamicModule {
    return {
      module: AuthModule,
      global: true,
      imports: [JwtModule.register({ secret: options.jwtSecret })],
      controllers: options.devTokens ? [DevTokenController] : [],
      providers: [HttpAuthGuard],
      exports: [JwtModule, HttpAuthGuard],
    };
  }
}
