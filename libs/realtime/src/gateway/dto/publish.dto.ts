import { IsString, Length, MaxLength, ValidateBy } from 'class-validator';
import { RequestDto } from './request.dto';

export class PublishDto extends RequestDto {
  @IsString()
  @MaxLength(133)
  topic!: string;

  @IsString()
  @Length(1, 100)
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
