import { USER_ID_PATTERN, USER_ID_RULE } from '@nest-realtime/server';
import {
  ArrayMaxSize,
  IsArray,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  Min,
} from 'class-validator';

export class DevTokenDto {
  @IsString()
  @Matches(USER_ID_PATTERN, { message: `userId must be ${USER_ID_RULE}` })
  userId!: string;

  /** Roles a token may carry (docs/security.md, Claims): a token with others would be refused everywhere. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(16)
  @IsString({ each: true })
  @Length(1, 100, { each: true })
  roles?: string[];

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86_400)
  ttlSeconds?: number;
}
