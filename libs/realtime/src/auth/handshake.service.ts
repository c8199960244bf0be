import { Inject, Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { SubscriptionService } from '../delivery/subscription.service';
import { RealtimeCounters } from '../metrics/realtime-counters';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { ErrorCode, RealtimeException } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { ConnectionRegistry } from '../registry/connection.registry';
import { Admission, type AdmissionRefusal } from './admission/admission.port';
import { CAPACITY_RETRY_SEC } from './admission/local.admission';
import { canonicalIp, resolveClientIp } from './client-address';
import { OriginPolicy } from './origin-policy';
import { ANONYMOUS, type Principal } from './principal';
import { RevocationService } from './revocation.service';
import { TokenRejectedError, TokenService } from './token.service';

/** What a successful handshake hands to the connection it creates. */
export interface AdmittedClient {
  principal: Principal;
  ip: string;
  /** Topics of `?subscribe=`, already authorized. */
  topics: string[];
}

/** A refused handshake: the HTTP status and a reason safe to show the client. */
export class HandshakeRefusal extends Error {
  constructor(
    readonly status: 401 | 403 | 429 | 503,
    readonly reason: string,
    /** Seconds a refused client should wait (429, 503): sent as Retry-After. */
    readonly retryAfterSec?: number,
  ) {
    super(reason);
    this.name = 'HandshakeRefusal';
  }
}

/**
 * Every check of PROTOCOL.md §1 that runs before the WebSocket upgrade, in the
 * order that refuses the cheapest way first. A refused client gets an HTTP
 * status and is never upgraded.
 */
@Injectable()
export class HandshakeService {
  private readonly origins: OriginPolicy;
  private readonly trustedProxies: ReadonlySet<string>;
  private readonly blockedIps: ReadonlySet<string>;
  private readonly allowedIps: ReadonlySet<string>;
  private accepting = true;

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly admission: Admission,
    private readonly tokens: TokenService,
    private readonly revocations: RevocationService,
    private readonly connections: ConnectionRegistry,
    private readonly subscriptions: SubscriptionService,
    private readonly counters: RealtimeCounters,
  ) {
    this.origins = new OriginPolicy(options.allowedOrigins);
    this.trustedProxies = new Set(options.network.trustedProxies.map(canonicalIp));
    this.blockedIps = new Set(options.network.blockedIps.map(canonicalIp));
    this.allowedIps = new Set(options.network.allowedIps.map(canonicalIp));
  }

  /** New handshakes get 503 from now on (graceful shutdown). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Runs every check that may wait (token, authorizers); throws HandshakeRefusal. */
  async verify(req: IncomingMessage, origin: string | undefined): Promise<AdmittedClient> {
    const ip = resolveClientIp(req, this.trustedProxies);
    if (this.blockedIps.has(ip)) throw new HandshakeRefusal(403, 'address blocked');
    const exempt = this.allowedIps.has(ip);
    if (!exempt) refuseIf(this.admission.countAttempt(ip));
    if (!this.origins.allows(origin)) throw new HandshakeRefusal(403, 'origin not allowed');
    this.checkCapacity();
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const principal = this.authenticate(query.get('token') || bearerToken(req));
    // Per-IP and per-user slots (cluster-wide in Redis mode), held until the socket closes.
    const userId = principal.userId;
    refuseIf(await this.admission.reserve(req.socket, { ip, userId, exempt }));
    const topics = await this.authorizeTopics(principal, query.get('subscribe'));
    return { principal, ip, topics };
  }

  /**
   * The last, synchronous check just before the upgrade: capacity may have
   * changed while verify waited, and nothing can change it between this
   * check and the connection's registration.
   */
  admit(client: AdmittedClient): HandshakeRefusal | undefined {
    // A revocation may have arrived while verify waited (authorizers): it found no connection to close.
    if (this.revocations.isRevoked(client.principal))
      return new HandshakeRefusal(401, 'token revoked');
    try {
      this.checkCapacity();
      return undefined;
    } catch (refusal) {
      return refusal as HandshakeRefusal;
    }
  }

  refused(status: number): void {
    this.counters.count(this.counters.refused, status);
  }

  private checkCapacity(): void {
    if (!this.accepting)
      throw new HandshakeRefusal(503, 'server shutting down', CAPACITY_RETRY_SEC);
    if (this.connections.size >= this.options.limits.maxConnections)
      throw new HandshakeRefusal(503, 'server full', CAPACITY_RETRY_SEC);
  }

  private authenticate(token: string | undefined | null): Principal {
    if (!token) {
      if (this.options.allowAnonymous) return ANONYMOUS;
      throw new HandshakeRefusal(401, 'token required');
    }
    let principal: Principal;
    try {
      principal = this.tokens.verify(token);
    } catch (error) {
      if (error instanceof TokenRejectedError) throw new HandshakeRefusal(401, error.message);
      throw error;
    }
    if (this.revocations.isRevoked(principal)) throw new HandshakeRefusal(401, 'token revoked');
    return principal;
  }

  private async authorizeTopics(principal: Principal, list: string | null): Promise<string[]> {
    if (!list) return [];
    try {
      return await this.subscriptions.check(principal, new Set(), list.split(',').filter(Boolean));
    } catch (error) {
      // A failing authorizer is the server's fault, not a refusal: 500, as for any other error.
      if (error instanceof RealtimeException && error.code !== ErrorCode.Internal) {
        throw new HandshakeRefusal(
          403,
          `subscribe refused: ${error.code}${error.topic ? ` ${error.topic}` : ''}`,
        );
      }
      throw error;
    }
  }
}

function refuseIf(refusal: AdmissionRefusal | undefined): void {
  if (refusal) throw new HandshakeRefusal(refusal.status, refusal.reason, refusal.retryAfterSec);
}

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}
