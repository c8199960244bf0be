import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { RequestDto } from './request.dto';

export class AuthDto extends RequestDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(8192)
  token!: string;
}
