import {
  type ArgumentMetadata,
  BadRequestException,
  type PipeTransform,
  UsePipes,
  ValidationPipe,
} from '@nestjs/common';

/**
 * Whitelisting misses keys named like the object machinery (`toString`,
 * `constructor`, …): class-validator finds them on its own metadata object
 * and takes them as known. They are refused here, at any depth, as every
 * other unknown key is (found by test/core/demo-routes.property.e2e-spec.ts).
 */
class RefuseMachineryKeys implements PipeTransform {
  transform(value: unknown, { type }: ArgumentMetadata): unknown {
    if (type !== 'body') return value;
    const pending: unknown[] = [value];
    while (pending.length > 0) {
      const node = pending.pop();
      if (typeof node !== 'object' || node === null) continue;
      for (const [key, child] of Object.entries(node)) {
        if (key in Object.prototype || key === 'prototype') {
          throw new BadRequestException([`property ${key} should not exist`]);
        }
        pending.push(child);
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
    new RefuseMachineryKeys(),
    new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }),
  );
