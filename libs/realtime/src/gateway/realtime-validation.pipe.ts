import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ErrorCode, RealtimeException } from '../protocol';

const MAX_MESSAGE_LENGTH = 200;

/**
 * DTO validation for inbound data: unknown fields refused, failures reported as
 * BAD_REQUEST (Nest's default would reach the client as "Internal server error").
 */
export function createRealtimeValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new RealtimeException(ErrorCode.BadRequest, describe(errors)),
  });
}

function describe(errors: ValidationError[]): string {
  const first = errors[0];
  const constraint = first?.constraints ? Object.values(first.constraints)[0] : undefined;
  const message = constraint ?? (first ? `${first.property} is invalid` : 'invalid request');
  return message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH)}…` : message;
}
