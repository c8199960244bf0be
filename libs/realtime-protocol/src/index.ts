export * from './close-codes.constants';
export * from './error-codes.constants';
export * from './event-map';
export * from './frames';
export * from './limits.constants';
export * from './offset-order';
export * from './topic-name';
export * from './wire-events.constants';
