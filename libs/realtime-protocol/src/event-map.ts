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

/**
 * The namespaces a map declares. `interface X extends EventMap` inherits the
 * string index signature, which would let any name through; it is dropped
 * here. A map that declares none (the default) allows every namespace.
 */
type DeclaredNamespaces<M> = keyof {
  [K in keyof M as string extends K ? never : K]: M[K];
} &
  string;
export type NamespaceNames<M extends EventMap> = [DeclaredNamespaces<M>] extends [never]
  ? string
  : DeclaredNamespaces<M>;

/** Any topic of the map: a namespace alone or with a key. */
export type TopicOf<M extends EventMap> = {
  [N in NamespaceNames<M>]: N | `${N}:${string}`;
}[NamespaceNames<M>];

export type NamespaceOf<T extends string> = T extends `${infer N}:${string}` ? N : T;

export type EventTypeOf<M extends EventMap, T extends string> = keyof M[NamespaceOf<T>] & string;

export type PayloadOf<
  M extends EventMap,
  T extends string,
  E extends string,
> = M[NamespaceOf<T>][E];
