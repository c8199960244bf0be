import type { NamespacePolicy } from '@nest-realtime/server';

/**
 * The demo's namespaces (PROTOCOL.md §7); anything else is refused. `chat:*`
 * keeps presence and sends joins and leaves; `orders` keeps presence (how many
 * watch) without them.
 */
export const demoTopicPolicies: Record<string, NamespacePolicy> = {
  market_data: { subscribe: 'public' },
  system_alerts: { subscribe: 'public' },
  orders: { subscribe: 'authenticated', presence: {} },
  inventory: { subscribe: 'authenticated' },
  user: { subscribe: 'owner' },
  admin: { subscribe: { roles: ['admin'] } },
  chat: { subscribe: 'authenticated', publish: 'authenticated', presence: { joinLeave: true } },
  bench: { subscribe: 'public', publish: 'authenticated' },
};
