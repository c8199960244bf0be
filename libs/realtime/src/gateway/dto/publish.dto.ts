import { IsString, Length, ValidateBy } from 'class-validator';
import { MAX_TYPE_LENGTH } from '../../protocol';
import { RequestDto } from './request.dto';

export class PublishDto extends RequestDto {
  /** Any string: a name outside the grammar is INVALID_TOPIC, from the topic check (PROTOCOL §4). */
  @IsString()
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
