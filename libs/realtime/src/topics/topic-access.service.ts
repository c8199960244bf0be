import { Inject, Injectable, Logger, OnModuleInit, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Principal } from '../auth/principal';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { ErrorCode, RealtimeException, parseTopic, TopicName } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import type { TopicAction, TopicAuthorizer, TopicRule } from './topic-policy.interface';

/** Applies the namespace policies of the options. Deny by default. */
@Injectable()
export class TopicAccessService implements OnModuleInit {
  private readonly logger = new Logger('Realtime');
  private readonly authorizers = new Map<Type<TopicAuthorizer>, TopicAuthorizer>();

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** Custom authorizers are resolved at start-up, so a missing provider fails fast. */
  onModuleInit(): void {
    for (const [namespace, policy] of Object.entries(this.options.topics)) {
      for (const rule of [policy.subscribe, policy.publish]) {
        if (typeof rule !== 'object' || !('authorizer' in rule)) continue;
        this.authorizers.set(rule.authorizer, this.resolveAuthorizer(rule.authorizer, namespace));
      }
    }
  }

  private resolveAuthorizer(type: Type<TopicAuthorizer>, namespace: string): TopicAuthorizer {
    try {
      return this.moduleRef.get(type, { strict: false });
    } catch {
      throw new Error(
        `RealtimeModule: authorizer ${type.name} of topics.${namespace} is not a provider in any module`,
      );
    }
  }

  /**
   * Parses each topic and checks the principal may act on it, in request
   * order; throws on the first refusal, invalid or forbidden (PROTOCOL §2).
   */
  async authorize(
    principal: Principal,
    action: TopicAction,
    topics: readonly string[],
  ): Promise<TopicName[]> {
    const names: TopicName[] = [];
    for (const topic of topics) {
      const name = this.parse(topic);
      await this.check(principal, action, name);
      names.push(name);
    }
    return names;
  }

  parse(topic: string): TopicName {
    const name = parseTopic(topic);
    if (!name)
      throw new RealtimeException(ErrorCode.InvalidTopic, 'invalid topic name', String(topic));
    return name;
  }

  maxPerConnection(namespace: string): number | undefined {
    return this.options.topics[namespace]?.maxPerConnection;
  }

  private async check(principal: Principal, action: TopicAction, name: TopicName): Promise<void> {
    const rule: TopicRule = this.options.topics[name.namespace]?.[action] ?? 'none';
    if (rule === 'public') return;
    if (rule === 'none') throw forbidden(name, action);
    if (principal.userId === null) {
      throw new RealtimeException(
        ErrorCode.Unauthorized,
        `${action} needs a signed-in user`,
        name.topic,
      );
    }
    if (rule === 'authenticated') return;
    if (rule === 'owner') {
      if (name.key !== principal.userId) throw forbidden(name, action);
      return;
    }
    if ('roles' in rule) {
      if (!rule.roles.some((role) => principal.roles.includes(role))) throw forbidden(name, action);
      return;
    }
    if (!(await this.askAuthorizer(rule.authorizer, principal, action, name))) {
      throw forbidden(name, action);
    }
  }

  private async askAuthorizer(
    type: Type<TopicAuthorizer>,
    principal: Principal,
    action: TopicAction,
    name: TopicName,
  ): Promise<boolean> {
    try {
      const authorizer = this.authorizers.get(type);
      return (
        authorizer !== undefined &&
        (await authorizer.authorize({ principal, action, ...name })) === true
      );
    } catch (error) {
      this.logger.error(`authorizer ${type.name} failed on ${name.topic}`, (error as Error)?.stack);
      throw new RealtimeException(ErrorCode.Internal, 'authorization failed', name.topic);
    }
  }
}

function forbidden(name: TopicName, action: TopicAction): RealtimeException {
  return new RealtimeException(
    ErrorCode.ForbiddenTopic,
    `${action} is not allowed on this topic`,
    name.topic,
  );
}
