import { RequestDto } from './request.dto';

export class PingDto extends RequestDto {}
