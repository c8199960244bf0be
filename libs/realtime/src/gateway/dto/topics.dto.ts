import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsString,
  ValidateBy,
} from 'class-validator';
import { MAX_OFFSET_LENGTH, MAX_TOPIC_LENGTH, MAX_TOPICS_PER_REQUEST } from '../../protocol';
import { Optional, RequestDto } from './request.dto';

export class TopicsDto extends RequestDto {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_TOPICS_PER_REQUEST)
  @IsString({ each: true })
  topics!: string[];
}

export class SubscribeDto extends TopicsDto {
  /** topic → the last offset the client saw; recovery sends what came after. Not null (it was read as a map). */
  @Optional()
  @ValidateBy({
    name: 'isOffsetMap',
    validator: {
      validate: isOffsetMap,
      defaultMessage: () => 'since must map topics to offset strings',
    },
  })
  since?: Record<string, string>;

  /** `presence_diff` frames for those of the topics whose namespace sends joins and leaves. */
  @Optional()
  @IsBoolean()
  presence?: boolean;
}

export class UnsubscribeDto extends TopicsDto {}

function isOffsetMap(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return (
    entries.length <= MAX_TOPICS_PER_REQUEST &&
    entries.every(
      ([topic, offset]) =>
        topic.length <= MAX_TOPIC_LENGTH &&
        typeof offset === 'string' &&
        offset.length <= MAX_OFFSET_LENGTH,
    )
  );
}
