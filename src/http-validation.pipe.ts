import { UsePipes, ValidationPipe } from '@nestjs/common';

/**
 * Body validation for the demo's controllers. Bound per controller, not as a
 * global pipe: global pipes also run on gateway messages, where an
 * HttpException is not the contract's error frame.
 */
export const ValidatedBody = () =>
  UsePipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
