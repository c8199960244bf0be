import { IsDefined, IsString, Length, MaxLength } from 'class-validator';
import { RequestDto } from './request.dto';

export class PublishDto extends RequestDto {
  @IsString()
  @MaxLength(133)
  topic!: string;

  @IsString()
  @Length(1, 100)
  type!: string;

  @IsDefined()
  payload!: unknown;
}
