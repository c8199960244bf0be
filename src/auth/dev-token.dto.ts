import { USER_ID_PATTERN } from '@nest-realtime/server';
import {
  ArrayMaxSize,
  IsArray,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
} from 'class-validator';

export class DevTokenDto {
  @IsString()
  @Matches(USER_ID_PATTERN, {
    message: 'userId must be a valid topic key (letters, digits, _.@=-)',
  })
  userId!: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(16)
  @IsString({ each: true })
  roles?: string[];

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86_400)
  ttlSeconds?: number;
}
