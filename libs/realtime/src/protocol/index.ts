export * from '@nest-realtime/protocol';
export * from './realtime.exception';
export * from './ref';
