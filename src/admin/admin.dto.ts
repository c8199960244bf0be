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

/** The longest retention the demo accepts for a notification (the library's default maximum). */
export const MAX_NOTIFY_TTL_SECONDS = 7 * 24 * 3600;

export class NotifyDto {
  /** A user id as tokens carry it (`sub`, a topic key): a message for any other could only expire. */
  @IsString()
  @Matches(/^[A-Za-z0-9_.@=-]{1,100}$/, {
    message: 'userId must be a valid topic key (letters, digits, _.@=-)',
  })
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
