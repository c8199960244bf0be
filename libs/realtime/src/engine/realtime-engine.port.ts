import type { OutboundFrame } from '../framing/outbound-frame';

/**
 * The engine port: what the delivery layer needs from whatever carries
 * messages between publishers and this node's sockets. `MemoryEngine` serves
 * one process; `RedisEngine` shares fan-out, offsets, history and commands
 * between every instance on one Redis. Engines know nothing of sockets: they
 * hand every message to the sink that delivery attaches.
 */
export interface RealtimeEngine {
  /** `memory` or `redis`, as reported by stats and health. */
  readonly name: string;
  /** Called once, at start-up, by the delivery layer. */
  attach(sink: EngineSink): void;
  /** Connects and starts the engine's own timers; resolves even when the backend is down (then unhealthy). */
  start(): Promise<void>;
  /** Stops every timer and subscription of the engine; connections are closed by their owner. */
  close(): Promise<void>;
  /**
   * Assigns the next offset, keeps the message in history and hands it to
   * every node's sink, atomically: offset order is delivery order on every
   * node. Rejects at once when the message cannot be carried (never hangs).
   */
  publish(topic: string, type: string, payload: unknown): Promise<PublishedMessage>;
  /** Delivers a command that is not tied to a topic (broadcast, per-user send, disconnect, revoke) to every node. */
  command(command: EngineCommand): Promise<void>;
  /**
   * The topic's head offset, and with `since` the retained messages after it.
   * Delivery watches the topic and registers the subscriber before asking,
   * and holds back live messages that race the answer, so an engine may take
   * its time (a network round trip) without a gap or a duplicate.
   */
  recover(topic: string, since: string | undefined): Promise<Recovery>;
  /**
   * This node has gained its first local subscriber on a topic: resolves once
   * the topic's messages reach the sink (a networked engine has subscribed),
   * rejects when they cannot; delivery then rolls the subscription back.
   */
  watch(topic: string): Promise<void>;
  /** This node has lost its last local subscriber on a topic. Best effort: never rejects. */
  unwatch(topic: string): Promise<void>;
  /** Whether a live message at `offset` comes after the recovery head `head` (a new epoch counts as after). */
  isAfter(offset: string, head: string): boolean;
  stats(): Promise<EngineStats>;
  isHealthy(): Promise<boolean>;
}

/** Where a publish landed. */
export interface PublishedMessage {
  topic: string;
  offset: string;
  ts: number;
}

/**
 * A topic's message as engines hand it to the sink: serialized and framed
 * once (the `message` frame of PROTOCOL §3, type and payload inside), so the
 * same bytes go to every socket and into history, and what history keeps is
 * what it counts.
 */
export interface EngineMessage extends PublishedMessage {
  frame: OutboundFrame;
}

export type RevokeCommand = {
  kind: 'revoke';
  tokenId?: string;
  userId?: string;
  at: number;
  /** When the revocation may be forgotten (ms since the epoch): the token's own expiry, or a day. */
  expiresAt: number;
};

export type EngineCommand =
  | { kind: 'broadcast'; type: string; payload: unknown; ts: number }
  | { kind: 'user'; userId: string; type: string; payload: unknown; ts: number; id?: string }
  | { kind: 'disconnect-user'; userId: string; code: number }
  | RevokeCommand;

export interface EngineSink {
  deliver(message: EngineMessage): void;
  /** Also called at start-up (and after a reconnect) with every revocation the engine keeps. */
  execute(command: EngineCommand): void;
  /**
   * The engine lost messages of a topic it delivers (history gone while it
   * was cut off from its backend): the topic's local subscribers must be told
   * `recovered: false`, with `offset` as their new position. Messages after
   * it follow.
   */
  resync(topic: string, offset: string): void;
}

export interface Recovery {
  /** The head offset: the last message's, or the epoch's zero. */
  offset: string;
  /** Undefined without `since`; false when the offset is unknown, too old or from another epoch. */
  recovered: boolean | undefined;
  messages: EngineMessage[];
}

export interface EngineStats {
  engine: string;
  /** `up`, or the backend connection's state (`connecting`, `reconnecting`…). */
  state: string;
  /** Topics with retained history (cluster-wide in Redis mode). */
  historyTopics: number;
  /** Topics this node watches (has local subscribers for). */
  watchedTopics: number;
  /** Messages this node published / received from the engine. */
  published: number;
  received: number;
  /** Messages retained for recovery; the memory engine only (Redis would need a scan). */
  retainedMessages?: number;
  /** What they hold (frames plus bookkeeping), and its bound `history.maxTotalBytes`; memory engine only. */
  retainedBytes?: number;
  maxRetainedBytes?: number;
  /** Round trip to the backend in ms (a PING); absent for the memory engine or when down. */
  roundTripMs?: number;
}
