import {
  type ArgumentMetadata,
  BadRequestException,
  type PipeTransform,
  UsePipes,
  ValidationPipe,
} from '@nestjs/common';

/**
 * Refuses bodies holding keys of the object machinery (`__proto__`,
 * `constructor`, `toString`, …, `prototype`) at any depth, as whitelisting
 * refuses every other unknown key: class-transformer skips these names, so
 * ValidationPipe alone would let them through. Iterative: a body is bounded
 * by the JSON parser's size limit, never by the stack.
 */
class NoObjectMachineryKeys implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type !== 'body') return value;
    const pending: unknown[] = [value];
    while (pending.length > 0) {
      const node = pending.pop();
      if (typeof node !== 'object' || node === null) continue;
      for (const key of Object.keys(node)) {
        if (key in Object.prototype || key === 'prototype') {
          throw new BadRequestException([`property ${key} should not exist`]);
        }
        pending.push((node as Record<string, unknown>)[key]);
      }
    }
    return value;
  }
}

/**
 * Body validation for the demo's controllers. Bound per controller, not as a
 * global pipe: global pipes also run on gateway messages, where an
 * HttpException is not the contract's error frame.
 */
export const ValidatedBody = () =>
  UsePipes(
    new NoObjectMachineryKeys(),
    new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }),
  );
