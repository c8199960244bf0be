import { Logger } from '@nestjs/common';
import type { ServerFrame } from '../protocol';

const logger = new Logger('Realtime');
const SETTLED = Promise.resolve();
const NOTHING = (): void => undefined;

/**
 * What a request answers: a frame, several, nothing, or a function that writes
 * frames which must be built when the reply's turn comes (a subscribe's
 * `subscribed`, then the messages recovered and held back meanwhile).
 */
export type Reply = ServerFrame | readonly ServerFrame[] | (() => void) | null | undefined;

/**
 * The answer of a request that has done its part (its effect is issued, as a
 * publish's engine call is, in order) but whose reply is still on its way: the
 * next request may start meanwhile, and this reply still goes out before
 * theirs. A client's burst of publishes then shares Redis round trips instead
 * of paying one each.
 */
export class PendingReply<R> {
  constructor(readonly reply: Promise<R>) {
    // A failure is turned into a reply where the queue delivers it, a few microtasks on.
    reply.catch(NOTHING);
  }
}

/**
 * The order of one connection's requests and replies. A request starts once
 * the one before it is done (or answered with a PendingReply), and its reply
 * is delivered once every earlier reply has been, whatever each waited for: a
 * slow authorizer holds back the requests after it on its own connection
 * only. Handlers know nothing of it; they return their reply.
 */
export class ReplyQueue {
  /** Settles once every reply queued so far is delivered; undefined when none is owed. */
  private delivered: Promise<void> | undefined;
  /** Settles once the next request may start; undefined when it may start at once. */
  private startable: Promise<void> | undefined;

  /**
   * Runs `handle` in turn and hands its reply to `deliver` in turn. The
   * reply's place is taken before `handle` runs, so what `handle` queues
   * itself (a close a guard decides) comes after its own reply.
   */
  request<R>(handle: () => Promise<R | PendingReply<R>>, deliver: (reply: R) => void): void {
    let settle!: (result: Promise<R | PendingReply<R>>) => void;
    const result = new Promise<R | PendingReply<R>>((resolve) => (settle = resolve));
    this.queue(() => result.then(replyOf).then(deliver));
    // Synchronous: a request with nothing ahead of it starts at once. A throw rejects its result.
    const start = (): void => settle(new Promise((resolve) => resolve(handle())));
    const gate = this.startable;
    this.gateStarts(result.then(NOTHING, NOTHING));
    if (gate === undefined) start();
    else void gate.then(start);
  }

  /**
   * Runs `work` once every reply queued so far is delivered, and before any
   * queued after: a reply with no request to run, or a close. Always after a
   * microtask at least, so that work queued by the request being handled
   * still finds that request's own reply ahead of it.
   */
  queue(work: () => Promise<void> | void): void {
    const current = (this.delivered ?? SETTLED).then(work).catch(reportFailure);
    this.delivered = current;
    void current.then(() => {
      if (this.delivered === current) this.delivered = undefined;
    });
  }

  private gateStarts(gate: Promise<void>): void {
    this.startable = gate;
    void gate.then(() => {
      if (this.startable === gate) this.startable = undefined;
    });
  }
}

function replyOf<R>(result: R | PendingReply<R>): R | Promise<R> {
  return result instanceof PendingReply ? result.reply : result;
}

/** A reply that fails to be delivered must not hold back the replies after it. */
function reportFailure(error: unknown): void {
  logger.error('delivering a reply failed', (error as Error)?.stack ?? String(error));
}
