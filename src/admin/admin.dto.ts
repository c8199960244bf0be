import { USER_ID_PATTERN, USER_ID_RULE } from '@nest-realtime/server';
import {
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';

/** User ids are token `sub`s: the grammar every token's `sub` must match. */
const USER_ID = () => Matches(USER_ID_PATTERN, { message: `userId must be ${USER_ID_RULE}` });

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
  @USER_ID()
  userId?: string;
}

/** The longest retention the demo accepts for a notification (the library's default maximum). */
export const MAX_NOTIFY_TTL_SECONDS = 7 * 24 * 3600;

export class NotifyDto {
  /** A user id as tokens carry it (`sub`, a topic key): a message for any other could only expire. */
  @IsString()
  @USER_ID()
  userId!: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(10_000)
  message!: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_NOTIFY_TTL_SECONDS)
  ttlSeconds?: number;
}
