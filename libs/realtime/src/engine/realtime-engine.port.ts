/**
 * The engine port: what the delivery layer needs from whatever carries
 * messages between publishers and this node's sockets. The memory engine
 * serves one process; an engine that shares fan-out, offsets and history
 * between instances (Redis is the plan) implements the same port. Engines know nothing of
 * sockets: they hand every message to the sink that delivery attaches.
 */
export interface RealtimeEngine {
  /** Called once, at start-up, by the delivery layer. */
  attach(sink: EngineSink): void;
  /** Assigns the next offset, keeps the message in history and hands it to every node's sink. */
  publish(topic: string, type: string, payload: unknown): Promise<EngineMessage>;
  /** Delivers a command that is not tied to a topic (broadcast, per-user send, disconnect) to every node. */
  command(command: EngineCommand): Promise<void>;
  /**
   * The topic's head offset, and with `since` the retained messages after it.
   * Delivery registers the subscriber before asking, and holds back live
   * messages that race the answer, so an engine may take its time (a network
   * round trip) without a gap or a duplicate reaching the client.
   */
  recover(topic: string, since: string | undefined): Promise<Recovery>;
  /** This node has gained its first / lost its last local subscriber on a topic. */
  watch(topic: string): void;
  unwatch(topic: string): void;
  /** Drops expired history; returns how many topics it forgot. */
  sweep(now: number): number;
  stats(): EngineStats;
  isHealthy(): Promise<boolean>;
}

export interface EngineMessage {
  topic: string;
  type: string;
  payload: unknown;
  offset: string;
  ts: number;
}

export type EngineCommand =
  | { kind: 'broadcast'; type: string; payload: unknown; ts: number }
  | { kind: 'user'; userId: string; type: string; payload: unknown; ts: number; id?: string }
  | { kind: 'disconnect-user'; userId: string; code: number }
  | { kind: 'revoke'; tokenId?: string; userId?: string; at: number };

export interface EngineSink {
  deliver(message: EngineMessage): void;
  execute(command: EngineCommand): void;
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
  historyTopics: number;
  retainedMessages: number;
  published: number;
}
