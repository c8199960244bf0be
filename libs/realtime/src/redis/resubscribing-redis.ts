import Redis, { type Command } from 'ioredis';

type CommandStream = Parameters<Redis['sendCommand']>[1];

/**
 * A subscriber connection for a client library (Bull's) that subscribes and
 * expects to stay subscribed, re-subscribed here after every reconnect
 * instead of by ioredis's `autoResubscribe`. That one sends the SUBSCRIBE
 * with no rejection handler: when Redis refuses the credentials, ioredis
 * fails every queued command with the AUTH error, and the unhandled
 * rejection ended the process. It also forgets, for good, the channels of a
 * re-subscription that failed. Here the channels are those this connection
 * was asked for (and not released), and a re-subscription that fails is
 * tried again at the next ready; the failure itself shows as the
 * connection's 'error'.
 *
 * RedisConnections.open gives it `autoResubscribe: false` (`resubscribing`).
 */
export class ResubscribingRedis extends Redis {
  private readonly kept = { subscribe: new Set<string>(), psubscribe: new Set<string>() };
  private listening = false;

  override sendCommand(command: Command, stream?: CommandStream): unknown {
    this.keep(command);
    return super.sendCommand(command, stream);
  }

  private keep({ name, args }: Command): void {
    switch (name.toLowerCase()) {
      case 'subscribe':
        return this.hold(this.kept.subscribe, args);
      case 'psubscribe':
        return this.hold(this.kept.psubscribe, args);
      case 'unsubscribe':
        return release(this.kept.subscribe, args);
      case 'punsubscribe':
        return release(this.kept.psubscribe, args);
    }
  }

  private hold(kept: Set<string>, channels: unknown[]): void {
    for (const channel of channels) kept.add(String(channel));
    this.resubscribeOnReady();
  }

  private resubscribeOnReady(): void {
    if (this.listening) return;
    this.listening = true;
    // A ready while the first SUBSCRIBE still waits in the offline queue sends it once more:
    // harmless, a subscription is a set.
    this.on('ready', () => {
      const { subscribe, psubscribe } = this.kept;
      if (subscribe.size > 0) this.subscribe(...subscribe).catch(ignore);
      if (psubscribe.size > 0) this.psubscribe(...psubscribe).catch(ignore);
    });
  }
}

/** An UNSUBSCRIBE without channels releases them all. */
function release(kept: Set<string>, channels: unknown[]): void {
  if (channels.length === 0) kept.clear();
  for (const channel of channels) kept.delete(String(channel));
}

function ignore(): void {
  // Reported as the connection's 'error' (RedisConnections logs it); tried again at the next ready.
}
