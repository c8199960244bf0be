import type { Type } from '@nestjs/common';
import type { Principal } from '../auth/principal';

/**
 * Decides a rule that the built-in policies cannot express, such as
 * "order 17 belongs to user 42". Provide the class in your module; the
 * library resolves it through DI, so it can inject repositories.
 *
 * @publicApi
 */
export interface TopicAuthorizer {
  authorize(request: TopicAccessRequest): boolean | Promise<boolean>;
}

export interface TopicAccessRequest {
  principal: Principal;
  action: TopicAction;
  topic: string;
  namespace: string;
  key: string | undefined;
}

export type TopicAction = 'subscribe' | 'publish';

/** One rule for one action on a namespace. Deny by default. */
export type TopicRule =
  | 'public'
  | 'authenticated'
  | 'owner'
  | 'none'
  | { roles: string[] }
  | { authorizer: Type<TopicAuthorizer> };

export interface NamespacePolicy {
  subscribe?: TopicRule;
  /** Client publish through the `publish` event; `none` unless set. */
  publish?: TopicRule;
  /** Topics of this namespace one connection may hold at once. */
  maxPerConnection?: number;
  /** History of this namespace's topics; each field defaults to the module's `history` option. */
  history?: { size?: number; ttlSeconds?: number; maxBytes?: number };
  /**
   * Keep presence for this namespace's topics (counts, members: the `presence`
   * request and PresenceService); with `joinLeave: true`, connections that
   * subscribe with `presence: true` also get `presence_diff` frames.
   */
  presence?: { joinLeave?: boolean };
}
