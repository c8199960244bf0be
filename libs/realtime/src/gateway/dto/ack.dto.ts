import { ArrayMaxSize, ArrayMinSize, IsArray, IsString, Length } from 'class-validator';
import { MAX_ACK_IDS, MAX_MESSAGE_ID_LENGTH } from '../../protocol';
import { RequestDto } from './request.dto';

export class AckDto extends RequestDto {
  /** Ids of retained `$user` messages (PROTOCOL §2, §5). */
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_ACK_IDS)
  @IsString({ each: true })
  @Length(1, MAX_MESSAGE_ID_LENGTH, { each: true })
  ids!: string[];
}
