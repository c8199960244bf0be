import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsString,
  ValidateBy,
} from 'class-validator';
import { MAX_TOPICS_PER_REQUEST } from '../../protocol';
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

/**
 * Entries are checked for their type only: a string that is no known offset
 * (too long to be one included) recovers nothing, `recovered: false`, and a
 * key that names no requested topic is ignored (PROTOCOL §2).
 */
function isOffsetMap(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const offsets = Object.values(value);
  return (
    offsets.length <= MAX_TOPICS_PER_REQUEST &&
    offsets.every((offset) => typeof offset === 'string')
  );
}
