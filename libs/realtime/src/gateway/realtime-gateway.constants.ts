/** Gateway option that tells RealtimeWsAdapter which ws server is ours to configure. */
export const REALTIME_GATEWAY_OPTION = 'realtimeGateway';
/**
 * The gateway's `path` as Nest files it: Nest shares one server between
 * gateways of the same port and path, so without a path of its own an app's
 * `@WebSocketGateway()` would share ours. No upgrade ever asks for it:
 * RealtimeWsAdapter serves the gateway on `options.path`.
 */
export const REALTIME_GATEWAY_KEY_PATH = '/\u0000nest-realtime';
