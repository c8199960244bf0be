export * from '@nest-realtime/protocol';
export * from './invalid-frame';
export * from './realtime.exception';
export * from './ref';
