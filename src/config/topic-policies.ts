import type { NamespacePolicy } from '@nest-realtime/server';

/** The demo's namespaces (PROTOCOL.md §7); anything else is refused. */
export const demoTopicPolicies: Record<string, NamespacePolicy> = {
  market_data: { subscribe: 'public' },
  system_alerts: { subscribe: 'public' },
  orders: { subscribe: 'authenticated' },
  inventory: { subscribe: 'authenticated' },
  user: { subscribe: 'owner' },
  admin: { subscribe: { roles: ['admin'] } },
  chat: { subscribe: 'authenticated', publish: 'authenticated' },
  bench: { subscribe: 'public', publish: 'authenticated' },
};
