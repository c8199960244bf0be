import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ANONYMOUS, type Principal } from '../auth/principal';
import { resolveRealtimeOptions } from '../options/resolve-options';
import type { RealtimeModuleOptions } from '../options/realtime-module-options.interface';
import { RealtimeException } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { TopicAccessService } from './topic-access.service';
import type { TopicAccessRequest, TopicAuthorizer } from './topic-policy.interface';

@Injectable()
class OrderOwnership {
  readonly owners = new Map([['17', '42']]);
}

@Injectable()
class OrderAuthorizer implements TopicAuthorizer {
  constructor(private readonly ownership: OrderOwnership) {}

  authorize({ principal, key }: TopicAccessRequest): boolean {
    return key !== undefined && this.ownership.owners.get(key) === principal.userId;
  }
}

@Injectable()
class BrokenAuthorizer implements TopicAuthorizer {
  authorize(): boolean {
    throw new Error('database is down at /srv/app/orders.ts:12');
  }
}

const topics: RealtimeModuleOptions['topics'] = {
  news: { subscribe: 'public' },
  orders: { subscribe: 'authenticated' },
  user: { subscribe: 'owner' },
  admin: { subscribe: { roles: ['admin', 'ops'] } },
  closed: { subscribe: 'none' },
  chat: { subscribe: 'authenticated', publish: 'authenticated', maxPerConnection: 2 },
  order: { subscribe: { authorizer: OrderAuthorizer } },
  broken: { subscribe: { authorizer: BrokenAuthorizer } },
};

const user = (userId: string, roles: string[] = []): Principal => ({ ...ANONYMOUS, userId, roles });

async function refusal(
  promise: Promise<unknown>,
): Promise<{ code: string; topic?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RealtimeException);
    const { code, topic, message } = error as RealtimeException;
    return { code, topic, message };
  }
  throw new Error('expected a refusal');
}

describe('TopicAccessService', () => {
  let access: TopicAccessService;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      providers: [
        TopicAccessService,
        OrderOwnership,
        OrderAuthorizer,
        BrokenAuthorizer,
        { provide: REALTIME_OPTIONS, useValue: resolveRealtimeOptions({ topics }) },
      ],
    }).compile();
    await moduleRef.init();
    access = moduleRef.get(TopicAccessService);
  });

  it('lets anyone use public topics', async () => {
    await expect(
      access.authorize(ANONYMOUS, 'subscribe', ['news', 'news:sport']),
    ).resolves.toHaveLength(2);
  });

  it('asks anonymous clients to sign in for anything else', async () => {
    for (const topic of ['orders', 'user:42', 'admin', 'chat:lobby', 'order:17']) {
      expect(await refusal(access.authorize(ANONYMOUS, 'subscribe', [topic]))).toMatchObject({
        code: 'UNAUTHORIZED',
        topic,
      });
    }
  });

  it('applies owner, roles and none', async () => {
    await expect(
      access.authorize(user('42'), 'subscribe', ['user:42', 'orders']),
    ).resolves.toHaveLength(2);
    expect(await refusal(access.authorize(user('42'), 'subscribe', ['user:43']))).toMatchObject({
      code: 'FORBIDDEN_TOPIC',
      topic: 'user:43',
    });
    expect(await refusal(access.authorize(user('42'), 'subscribe', ['user']))).toMatchObject({
      code: 'FORBIDDEN_TOPIC',
    });
    await expect(
      access.authorize(user('1', ['ops']), 'subscribe', ['admin']),
    ).resolves.toHaveLength(1);
    expect(
      await refusal(access.authorize(user('1', ['viewer']), 'subscribe', ['admin'])),
    ).toMatchObject({ code: 'FORBIDDEN_TOPIC' });
    expect(
      await refusal(access.authorize(user('1', ['admin']), 'subscribe', ['closed'])),
    ).toMatchObject({ code: 'FORBIDDEN_TOPIC' });
  });

  it('denies namespaces without a policy and actions without a rule', async () => {
    expect(await refusal(access.authorize(user('1'), 'subscribe', ['unknown']))).toMatchObject({
      code: 'FORBIDDEN_TOPIC',
      topic: 'unknown',
    });
    expect(await refusal(access.authorize(user('1'), 'publish', ['news']))).toMatchObject({
      code: 'FORBIDDEN_TOPIC',
    });
    await expect(access.authorize(user('1'), 'publish', ['chat:lobby'])).resolves.toHaveLength(1);
  });

  it('names the first refused topic in request order', async () => {
    expect(
      await refusal(access.authorize(user('1'), 'subscribe', ['news', 'Bad Name', 'admin'])),
    ).toMatchObject({
      code: 'INVALID_TOPIC',
      topic: 'Bad Name',
    });
    expect(
      await refusal(access.authorize(user('1'), 'subscribe', ['news', 'admin', 'closed'])),
    ).toMatchObject({
      code: 'FORBIDDEN_TOPIC',
      topic: 'admin',
    });
  });

  it('asks a custom authorizer resolved through DI', async () => {
    await expect(access.authorize(user('42'), 'subscribe', ['order:17'])).resolves.toHaveLength(1);
    expect(await refusal(access.authorize(user('7'), 'subscribe', ['order:17']))).toMatchObject({
      code: 'FORBIDDEN_TOPIC',
    });
  });

  it('reports a failing authorizer as INTERNAL without its details', async () => {
    const error = await refusal(access.authorize(user('42'), 'subscribe', ['broken:1']));
    expect(error).toEqual({ code: 'INTERNAL', topic: 'broken:1', message: 'authorization failed' });
  });

  it('exposes per-namespace caps', () => {
    expect(access.maxPerConnection('chat')).toBe(2);
    expect(access.maxPerConnection('news')).toBeUndefined();
  });

  it('fails start-up when an authorizer is not a provider', async () => {
    const moduleRef = await Test.createTestingModule({
      providers: [
        TopicAccessService,
        {
          provide: REALTIME_OPTIONS,
          useValue: resolveRealtimeOptions({
            topics: { order: { subscribe: { authorizer: OrderAuthorizer } } },
          }),
        },
      ],
    }).compile();
    await expect(moduleRef.init()).rejects.toThrow(
      'authorizer OrderAuthorizer of topics.order is not a provider',
    );
  });
});
