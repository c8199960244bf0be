import { IsString, Length, MaxLength, ValidateBy } from 'class-validator';
import { MAX_TOPIC_LENGTH, MAX_TYPE_LENGTH } from '../../protocol';
import { RequestDto } from './request.dto';

export class PublishDto extends RequestDto {
  @IsString()
  @MaxLength(MAX_TOPIC_LENGTH)
  topic!: string;

  @IsString()
  @Length(1, MAX_TYPE_LENGTH)
  type!: string;

  /** Any JSON value, null included; only a missing payload is refused. */
  @ValidateBy({
    name: 'isPresent',
    validator: {
      validate: (value) => value !== undefined,
      defaultMessage: () => 'payload is required',
    },
  })
  payload!: unknown;
}
