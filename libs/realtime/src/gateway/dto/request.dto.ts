import { IsString, MaxLength, ValidateIf } from 'class-validator';
import { MAX_REF_LENGTH } from '../../protocol';

/**
 * An optional field: absent, or of its type. `null` is no absence (IsOptional
 * would let it through, and a reply would echo `ref: null`).
 */
export const Optional = () => ValidateIf((_object, value) => value !== undefined);

/** Every request may carry `ref`; replies echo it. */
export class RequestDto {
  @Optional()
  @IsString()
  @MaxLength(MAX_REF_LENGTH)
  ref?: string;
}
