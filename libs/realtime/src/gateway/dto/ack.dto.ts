import { ArrayMaxSize, ArrayMinSize, IsArray, IsString } from 'class-validator';
import { MAX_ACK_IDS } from '../../protocol';
import { RequestDto } from './request.dto';

export class AckDto extends RequestDto {
  /**
   * Ids of retained `$user` messages (PROTOCOL §2, §5). Any string: one that
   * names no waiting message, however long or short, is ignored (ack is idempotent).
   */
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_ACK_IDS)
  @IsString({ each: true })
  ids!: string[];
}
