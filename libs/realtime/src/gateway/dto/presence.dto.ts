import { IsInt, IsString, Length, Max, Min } from 'class-validator';
import { MAX_PRESENCE_CURSOR_LENGTH, MAX_PRESENCE_LIMIT } from '../../protocol';
import { Optional, RequestDto } from './request.dto';

/** `presence`: one page of a subscribed topic's members (PROTOCOL §2, §5). */
export class PresenceDto extends RequestDto {
  /** Any string: a name outside the grammar is INVALID_TOPIC, from the topic check (PROTOCOL §4). */
  @IsString()
  topic!: string;

  @Optional()
  @IsString()
  @Length(1, MAX_PRESENCE_CURSOR_LENGTH)
  cursor?: string;

  @Optional()
  @IsInt()
  @Min(0)
  @Max(MAX_PRESENCE_LIMIT)
  limit?: number;
}
