/**
 * An app's events, declared once: topic namespace → event type → payload.
 *
 * ```ts
 * interface AppEvents extends EventMap {
 *   orders: { 'order.created': Order; 'order.updated': Order };
 *   user: { 'order.created': Order };
 * }
 * constructor(private readonly realtime: BroadcastService<AppEvents>) {}
 * ```
 *
 * @publicApi
 */
export type EventMap = Record<string, Record<string, unknown>>;

/** Any topic of the map: a namespace alone or with a key. */
export type TopicOf<M extends EventMap> = {
  [N in keyof M & string]: N | `${N}:${string}`;
}[keyof M & string];

export type NamespaceOf<T extends string> = T extends `${infer N}:${string}` ? N : T;

export type EventTypeOf<M extends EventMap, T extends string> = keyof M[NamespaceOf<T>] & string;

export type PayloadOf<
  M extends EventMap,
  T extends string,
  E extends string,
> = M[NamespaceOf<T>][E];
