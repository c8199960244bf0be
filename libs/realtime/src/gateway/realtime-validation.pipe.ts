import type { ArgumentMetadata, PipeTransform } from '@nestjs/common';
import { getMetadataStorage, validate, type ValidationError } from 'class-validator';
import { ErrorCode, RealtimeException } from '../protocol';

const MAX_MESSAGE_LENGTH = 200;
/** Parameter types that are no DTO (Nest's ValidationPipe skips the same). */
const NOT_DTOS: ReadonlySet<unknown> = new Set([
  String,
  Boolean,
  Number,
  Array,
  Object,
  Buffer,
  Date,
]);

/**
 * DTO validation for inbound data: unknown fields refused, failures reported
 * as BAD_REQUEST (Nest's default would reach the client as "Internal server
 * error").
 *
 * The request DTOs are flat, so the data is checked as it is: unknown keys
 * are refused first, from the DTO's own field list, and the known fields are
 * validated on a shallow instance. Nest's ValidationPipe instead copies the
 * whole value through class-transformer, whose cost grows with the square of
 * an object's keys: a 64 KiB frame with thousands of keys (in `data`, or in
 * a `publish` payload) cost tens of milliseconds, and a bigger one seconds
 * (test/protection/inbound-frames.property.e2e-spec.ts, "what reading a frame costs").
 */
export function createRealtimeValidationPipe(): PipeTransform {
  return new RealtimeValidationPipe();
}

class RealtimeValidationPipe implements PipeTransform {
  private readonly fields = new Map<object, ReadonlySet<string>>();

  async transform(value: unknown, { metatype, type }: ArgumentMetadata): Promise<unknown> {
    if (type === 'custom' || metatype === undefined || NOT_DTOS.has(metatype)) return value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new RealtimeException(ErrorCode.BadRequest, 'data must be an object');
    }
    const known = this.fieldsOf(metatype);
    const unknown = Object.keys(value).find((key) => !known.has(key));
    if (unknown !== undefined) {
      throw new RealtimeException(
        ErrorCode.BadRequest,
        clip(`property ${unknown} should not exist`),
      );
    }
    const dto: object = Object.assign(Object.create(metatype.prototype as object) as object, value);
    const errors = await validate(dto, {
      forbidUnknownValues: true,
      validationError: { target: false, value: false },
    });
    if (errors.length > 0) throw new RealtimeException(ErrorCode.BadRequest, describe(errors));
    return value;
  }

  /** The properties a DTO class declares validation for (its whole hierarchy), computed once. */
  private fieldsOf(metatype: object): ReadonlySet<string> {
    let fields = this.fields.get(metatype);
    if (!fields) {
      const metadata = getMetadataStorage().getTargetValidationMetadatas(
        metatype as new () => object,
        '',
        true,
        false,
      );
      fields = new Set(metadata.map((entry) => entry.propertyName));
      this.fields.set(metatype, fields);
    }
    return fields;
  }
}

function describe(errors: ValidationError[]): string {
  const first = errors[0];
  const constraint = first?.constraints ? Object.values(first.constraints)[0] : undefined;
  return clip(constraint ?? (first ? `${first.property} is invalid` : 'invalid request'));
}

function clip(message: string): string {
  return message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH)}…` : message;
}
