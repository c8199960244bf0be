import { Inject, Injectable } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { IncomingMessage } from 'node:http';
import { RealtimeCounters } from '../metrics/realtime-counters';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { ErrorCode, MAX_TOPICS_PER_REQUEST, RealtimeException } from '../protocol';
import { REALTIME_CONNECT_RATE_STORAGE, REALTIME_OPTIONS } from '../realtime.constants';
import { ConnectionRegistry, ipLimitKey } from '../registry/connection.registry';
import { SubscriptionRules } from '../topics/subscription-rules';
import { Admission, type AdmissionRefusal } from './admission/admission.port';
import { canonicalIp, resolveClientIp } from './client-address';
import { rememberingLast } from './remembering-last';
import { FixedWindowStorage } from './fixed-window.storage';
import { handshakeQuery } from './handshake-query';
import { CAPACITY_RETRY_SEC, HandshakeRefusal } from './handshake-refusal';
import { OriginPolicy } from './origin-policy';
import { ANONYMOUS, type Principal } from './principal';
import { handshakeRefusalFor, SessionRules } from './session-rules';
import { TokenKeyPendingError, TokenRejectedError, TokenService } from './token.service';

export { HandshakeRefusal } from './handshake-refusal';

/** What a successful handshake hands to the connection it creates. */
export interface AdmittedClient {
  principal: Principal;
  ip: string;
  /** Topics of `?subscribe=`, already authorized (none named: empty); undefined without it. */
  topics: string[] | undefined;
}

const CONNECT_THROTTLER = 'connect';

/**
 * Every check of PROTOCOL.md §1 that runs before the WebSocket upgrade, in the
 * order that refuses the cheapest way first. A refused client gets an HTTP
 * status and is never upgraded. Without `?subscribe=` (and with the local
 * connect-rate storage) nothing waits: `verify` answers synchronously.
 */
@Injectable()
export class HandshakeService {
  private readonly origins: OriginPolicy;
  private readonly trustedProxies: ReadonlySet<string>;
  private readonly blockedIps: ReadonlySet<string>;
  private readonly allowedIps: ReadonlySet<string>;
  /** The connect-rate storage when it counts synchronously (the built-in one). */
  private readonly localAttempts: FixedWindowStorage | undefined;
  private accepting = true;
  /** The connect-rate key of an address (asked twice per handshake). */
  private readonly attemptKey = rememberingLast(
    (ip: string) => `${CONNECT_THROTTLER}:${ipLimitKey(ip)}`,
  );

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    @Inject(REALTIME_CONNECT_RATE_STORAGE) private readonly attempts: ThrottlerStorage,
    private readonly admission: Admission,
    private readonly tokens: TokenService,
    private readonly rules: SessionRules,
    private readonly connections: ConnectionRegistry,
    private readonly subscriptions: SubscriptionRules,
    private readonly counters: RealtimeCounters,
  ) {
    this.origins = new OriginPolicy(options.allowedOrigins);
    this.trustedProxies = new Set(options.network.trustedProxies.map(canonicalIp));
    this.blockedIps = new Set(options.network.blockedIps.map(canonicalIp));
    this.allowedIps = new Set(options.network.allowedIps.map(canonicalIp));
    this.localAttempts = attempts instanceof FixedWindowStorage ? attempts : undefined;
  }

  /** New handshakes get 503 from now on (graceful shutdown). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /**
   * Runs every check; throws HandshakeRefusal. Returns a promise only when a
   * check has to wait (a shared connect-rate storage, `?subscribe=` authorizers).
   */
  verify(req: IncomingMessage): AdmittedClient | Promise<AdmittedClient> {
    const ip = resolveClientIp(req, this.trustedProxies);
    if (this.blockedIps.has(ip)) throw new HandshakeRefusal(403, 'address blocked');
    const exempt = this.allowedIps.has(ip);
    if (exempt) return this.afterRate(req, ip, exempt);
    if (this.localAttempts) {
      const { isBlocked } = this.localAttempts.hit(this.attemptKey(ip), this.windowMs, this.rate);
      if (isBlocked) throw this.tooManyAttempts();
      return this.afterRate(req, ip, exempt);
    }
    return this.attempts
      .increment(this.attemptKey(ip), this.windowMs, this.rate, 0, CONNECT_THROTTLER)
      .then(({ isBlocked }) => {
        if (isBlocked) throw this.tooManyAttempts();
        return this.afterRate(req, ip, exempt);
      });
  }

  /**
   * The last, synchronous check just before the upgrade: capacity may have
   * changed while verify waited, and nothing can change it between this
   * check and the connection's registration. `waited`: verify answered with
   * a promise; when it answered at once, nothing changed since its own
   * checks of the session and the capacity, and only the per-user cap is left.
   */
  admit(client: AdmittedClient, waited: boolean): HandshakeRefusal | undefined {
    if (waited) {
      // A revocation may have arrived while verify waited (authorizers): it found no connection to close.
      const problem = this.rules.problem(client.principal);
      if (problem) return handshakeRefusalFor(problem);
      const full = this.capacityProblem(client.ip, this.allowedIps.has(client.ip));
      if (full) return full;
    }
    const userFull = this.rules.joinProblem(client.principal);
    return userFull && handshakeRefusalFor(userFull);
  }

  refused(status: number): void {
    this.counters.count(this.counters.refused, status);
  }

  private afterRate(
    req: IncomingMessage,
    ip: string,
    exempt: boolean,
  ): AdmittedClient | Promise<AdmittedClient> {
    if (!this.origins.allowsHandshake(req.headers)) {
      throw new HandshakeRefusal(403, 'origin not allowed');
    }
    const full = this.capacityProblem(ip, exempt);
    if (full) throw full;
    const { token, subscribe } = handshakeQuery(req.url);
    const principal = this.authenticate(token, req.headers.authorization);
    // Redis mode: the cluster's counts, one round trip, a slot held until the socket closes.
    const reserved = this.admission.reserve(req.socket, { ip, userId: principal.userId, exempt });
    if (reserved instanceof Promise) {
      return reserved.then((refusal) => this.afterAdmission(refusal, principal, ip, subscribe));
    }
    return this.afterAdmission(reserved, principal, ip, subscribe);
  }

  private afterAdmission(
    refusal: AdmissionRefusal | undefined,
    principal: Principal,
    ip: string,
    subscribe: string | undefined,
  ): AdmittedClient | Promise<AdmittedClient> {
    if (refusal) throw new HandshakeRefusal(429, refusal.reason, refusal.retryAfterSec);
    if (subscribe === undefined) return { principal, ip, topics: undefined };
    return this.authorizeTopics(principal, subscribe).then((topics) => ({ principal, ip, topics }));
  }

  private get rate(): number {
    return this.options.limits.connectRate;
  }

  private get windowMs(): number {
    return this.options.limits.connectWindowMs;
  }

  private tooManyAttempts(): HandshakeRefusal {
    return new HandshakeRefusal(
      429,
      'too many connection attempts',
      Math.ceil(this.windowMs / 1000),
    );
  }

  private capacityProblem(ip: string, exempt: boolean): HandshakeRefusal | undefined {
    const limits = this.options.limits;
    if (!this.accepting)
      return new HandshakeRefusal(503, 'server shutting down', CAPACITY_RETRY_SEC);
    if (this.connections.size >= limits.maxConnections)
      return new HandshakeRefusal(503, 'server full', CAPACITY_RETRY_SEC);
    if (!exempt && this.connections.countForIp(ip) >= limits.maxConnectionsPerIp) {
      return new HandshakeRefusal(
        429,
        'too many connections from this address',
        CAPACITY_RETRY_SEC,
      );
    }
    return undefined;
  }

  /** The query's token first, then the Authorization header (present but malformed: 401). */
  private authenticate(queryToken: string | undefined, header: string | undefined): Principal {
    let principal: Principal;
    try {
      const token = queryToken ?? this.tokens.bearerToken(header);
      if (token === undefined) {
        if (this.options.allowAnonymous) return ANONYMOUS;
        throw new HandshakeRefusal(401, 'token required');
      }
      principal = this.tokens.verify(token);
    } catch (error) {
      // The client retries a 503 (a 401 would stop it): its key is on the way.
      if (error instanceof TokenKeyPendingError) throw new HandshakeRefusal(503, error.message, 1);
      if (error instanceof TokenRejectedError) throw new HandshakeRefusal(401, error.message);
      throw error;
    }
    const problem = this.rules.problem(principal);
    if (problem) throw handshakeRefusalFor(problem);
    return principal;
  }

  private async authorizeTopics(principal: Principal, list: string): Promise<string[]> {
    const topics = list.split(',').filter(Boolean);
    // The subscribe event's bound on one request, whatever limits.maxSubscriptions allows: there
    // it is BAD_REQUEST, here the handshake's refusal of any ?subscribe= the event would refuse.
    if (topics.length > MAX_TOPICS_PER_REQUEST) {
      throw new HandshakeRefusal(403, `subscribe refused: ${ErrorCode.BadRequest}`);
    }
    try {
      return await this.subscriptions.check(principal, new Set(), topics);
    } catch (error) {
      // A failing authorizer is the server's fault, not a refusal: 500, as for any other error.
      // The reason names the code, never the client's input (the client knows what it asked for).
      if (error instanceof RealtimeException && error.code !== ErrorCode.Internal) {
        throw new HandshakeRefusal(403, `subscribe refused: ${error.code}`);
      }
      throw error;
    }
  }
}
