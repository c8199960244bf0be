import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { OpsController } from './ops.controller';

@Module({ imports: [TerminusModule], controllers: [OpsController] })
export class OpsModule {}
