import { IsOptional, IsString, MaxLength } from 'class-validator';
import { MAX_REF_LENGTH } from '../../protocol';

/** Every request may carry `ref`; replies echo it. */
export class RequestDto {
  @IsOptional()
  @IsString()
  @MaxLength(MAX_REF_LENGTH)
  ref?: string;
}
