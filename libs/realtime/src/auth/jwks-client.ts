import { Logger } from '@nestjs/common';
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

/** A key set is a few keys: past this the answer is no key set of an identity provider. */
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_KEYS = 100;
const FETCH_TIMEOUT_MS = 5_000;

export interface JwksClientOptions {
  url: string;
  refreshMs: number;
  cooldownMs: number;
}

/**
 * An identity provider's JSON Web Key Set, kept in memory and fetched again
 * on a timer of its own and when a token names a kid it lacks (at most once
 * per cooldown), so that verifying a token never waits for the network. A
 * failed fetch keeps the keys it had; until a first one succeeds, fetches
 * repeat every cooldown.
 */
export class JwksClient {
  private readonly logger = new Logger('Realtime');
  private timer: NodeJS.Timeout | undefined;
  private inFlight: AbortController | undefined;
  private lastFetchAt = -Infinity;
  private loaded = false;
  private stopped = false;

  constructor(
    private readonly options: JwksClientOptions,
    private readonly onKeys: (keys: ReadonlyMap<string, KeyObject>) => void,
  ) {}

  /** The first fetch (its failure is logged, not thrown: the app starts, tokens wait for keys). */
  async start(): Promise<void> {
    await this.fetchNow();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.inFlight?.abort();
  }

  /**
   * A token named a kid none of the keys has: maybe the provider rotated.
   * Fetches unless one did within the cooldown; whether a fetch is running.
   */
  unknownKid(): boolean {
    if (!this.inFlight && performance.now() - this.lastFetchAt >= this.options.cooldownMs) {
      void this.fetchNow();
    }
    return this.inFlight !== undefined;
  }

  private async fetchNow(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.lastFetchAt = performance.now();
    const controller = new AbortController();
    this.inFlight = controller;
    const timeout = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const keys = parseKeySet(await fetchBounded(this.options.url, controller.signal));
      if (keys.size === 0) throw new Error('no signing key with a kid');
      if (this.stopped) return;
      this.loaded = true;
      this.onKeys(keys);
    } catch (error) {
      if (!this.stopped) {
        this.logger.warn(
          `JWKS ${this.options.url} not loaded (${keptKeys(this.loaded)}): ${(error as Error).message}`,
        );
      }
    } finally {
      clearTimeout(timeout);
      this.inFlight = undefined;
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    const wait = this.loaded ? this.options.refreshMs : this.options.cooldownMs;
    this.timer = setTimeout(() => void this.fetchNow(), wait);
    this.timer.unref();
  }
}

function keptKeys(loaded: boolean): string {
  return loaded ? 'keeping the keys it had' : 'no key yet: every token is refused';
}

async function fetchBounded(url: string, signal: AbortSignal): Promise<string> {
  // No redirect: one could lead an https key set to plain http, or anywhere.
  const response = await fetch(url, {
    signal,
    redirect: 'error',
    headers: { accept: 'application/json' },
  });
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw new Error(`larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The signing keys of a key set, by kid; a key without a kid, for another
 * use, unreadable, or private (a published private key lets anyone sign: no
 * token it signed proves anything) is skipped.
 */
function parseKeySet(text: string): Map<string, KeyObject> {
  const { keys } = JSON.parse(text) as { keys?: unknown };
  if (!Array.isArray(keys)) throw new Error('no "keys" list');
  const byKid = new Map<string, KeyObject>();
  for (const jwk of keys.slice(0, MAX_KEYS) as Array<JsonWebKey & { kid?: unknown }>) {
    if (typeof jwk?.kid !== 'string' || jwk.kid === '' || (jwk.use ?? 'sig') !== 'sig') continue;
    if (jwk.d !== undefined || jwk.k !== undefined) continue;
    try {
      byKid.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
    } catch {
      // A key type this Node cannot read signs no token we could check anyway.
    }
  }
  return byKid;
}
