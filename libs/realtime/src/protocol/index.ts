export * from './close-codes.constants';
export * from './error-codes.constants';
export * from './frames';
export * from './realtime.exception';
export * from './wire-events.constants';
export * from './ref';
