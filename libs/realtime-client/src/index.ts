export { RealtimeClient } from './realtime-client';
export { RealtimeError, ClientErrorCode } from './realtime-error';
export { closeAction, type CloseAction } from './close-policy';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
export { CloseCode, compareOffsets, ErrorCode } from '@nest-realtime/protocol';
export type {
  ClientEvents,
  ClientStats,
  ClosedInfo,
  ConnectedInfo,
  ConnectionState,
  DirectMessage,
  DisconnectedInfo,
  EventMap,
  PresenceDiff,
  PresencePage,
  RealtimeClientOptions,
  ResyncInfo,
  SubscribeOptions,
  Subscription,
  TokenReason,
  TopicMessage,
  TopicOf,
  WebSocketConstructor,
} from './types';
