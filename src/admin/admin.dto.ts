import { IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';

export class BroadcastDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(10_000)
  message!: string;
}

export class RevokeDto {
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(256)
  jti?: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(256)
  userId?: string;
}
