import type { LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RealtimeModule, type RealtimeModuleOptions } from '@nest-realtime/server';

/** Collects what the module logs while it is built. */
class Collected implements LoggerService {
  readonly warnings: string[] = [];
  log(): void {}
  error(): void {}
  debug(): void {}
  verbose(): void {}
  warn(message: unknown): void {
    this.warnings.push(String(message));
  }
}

async function warningsOf(options: RealtimeModuleOptions): Promise<string[]> {
  const logger = new Collected();
  const moduleRef = await Test.createTestingModule({ imports: [RealtimeModule.forRoot(options)] })
    .setLogger(logger)
    .compile();
  await moduleRef.close();
  return logger.warnings;
}

/**
 * The development profile takes the public development secret when no key
 * is given (`jwt: { secret: process.env.JWT_SECRET }` with the variable
 * unset): anyone can then sign tokens, with any roles. It starts, and says so.
 */
describe('the development secret', () => {
  it('is named in a warning when it is the key', async () => {
    for (const options of [{}, { jwt: { secret: undefined } }] as RealtimeModuleOptions[]) {
      expect(await warningsOf(options)).toEqual([
        expect.stringContaining('jwt.secret is the development secret'),
      ]);
    }
  });

  it('goes unmentioned with a key of the app', async () => {
    const secret = 'an-app-secret-of-its-own-0123456789-abcdef';
    expect(await warningsOf({ jwt: { secret } })).toEqual([]);
  });
});
