/** Gateway option that tells RealtimeWsAdapter which ws server is ours to configure. */
export const REALTIME_GATEWAY_OPTION = 'realtimeGateway';
