import { isIP } from 'node:net';
import { DEV_JWT_SECRET } from '../realtime.constants';
import { NAMESPACE_PATTERN } from '../protocol';
import type { TopicRule } from '../topics/topic-policy.interface';
import type { ResolvedRealtimeOptions } from './resolved-options';

const SIMPLE_RULES: ReadonlySet<unknown> = new Set(['public', 'authenticated', 'owner', 'none']);
const HMAC_ALGORITHMS = /^HS/;
const MIN_SECRET_LENGTH = 32;
/** Every key is one more signature a bad token costs when no `kid` picks one. */
const MAX_JWT_KEYS = 16;
/** A `kid` as a JWT header carries it and the key set names it: printable ASCII. */
const KID = /^[\x21-\x7e]{1,256}$/;
const MAX_TIMER_MS = 2 ** 31 - 1;
const JWT_KEY_FIELDS: ReadonlySet<string> = new Set(['kid', 'secret', 'publicKey']);
const MAX_REDIS_PING_MS = 30_000;

export class RealtimeOptionsError extends Error {
  constructor(option: string, problem: string) {
    super(`RealtimeModule: option "${option}" ${problem}`);
    this.name = 'RealtimeOptionsError';
  }
}

/** Option groups of plain fields, each of which the resolved options name (with its default). */
export const PLAIN_GROUPS = [
  'jwt',
  'limits',
  'network',
  'heartbeat',
  'history',
  'shutdown',
  'offline',
  'idempotency',
  'jobs',
  'presence',
  'events',
] as const;

/** Option groups that must be objects when given (their fields are read one by one). */
const GROUPS = [...PLAIN_GROUPS, 'topics', 'redis', 'engine'] as const;

/**
 * The options as given, before defaults are laid over them: a group that is
 * no object (a number, a string, null from a config file) or an unknown
 * profile would otherwise be skipped silently, or fail deep inside with a
 * TypeError that names nothing.
 */
export function validateOptionShapes(options: unknown, profiles: readonly string[]): void {
  if (!isPlainObject(options)) fail('options', 'must be an object');
  for (const group of GROUPS) {
    if (options[group] !== undefined && !isPlainObject(options[group])) {
      fail(group, 'must be an object');
    }
  }
  if (options.profile !== undefined && !profiles.includes(options.profile as string)) {
    fail('profile', `must be one of ${profiles.join(', ')}`);
  }
  for (const flag of ['allowAnonymous', 'perMessageDeflate'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
      fail(flag, 'must be true or false');
    }
  }
  const origins = options.allowedOrigins;
  if (origins !== undefined && !isStringList(origins)) {
    fail('allowedOrigins', 'must be a list of origins');
  }
  const jwt = options.jwt as Record<string, unknown> | undefined;
  if (jwt?.algorithms !== undefined && !isStringList(jwt.algorithms)) {
    fail('jwt.algorithms', 'must be a list of algorithm names');
  }
  for (const key of ['secret', 'publicKey', 'issuer', 'audience', 'jwksUrl'] as const) {
    if (jwt?.[key] !== undefined && typeof jwt[key] !== 'string')
      fail(`jwt.${key}`, 'must be a string');
  }
  if (jwt?.keys !== undefined) validateJwtKeyShapes(jwt.keys);
  if (options.path !== undefined && typeof options.path !== 'string')
    fail('path', 'must be a string');
  for (const [namespace, policy] of Object.entries((options.topics as object | undefined) ?? {})) {
    if (!isPlainObject(policy)) fail(`topics.${namespace}`, 'must be an object');
  }
}

function validateJwtKeyShapes(keys: unknown): void {
  if (!Array.isArray(keys) || keys.length > MAX_JWT_KEYS) {
    fail('jwt.keys', `must be a list of at most ${MAX_JWT_KEYS} keys`);
  }
  const kids = new Set<unknown>();
  keys.forEach((key: unknown, i) => {
    const option = `jwt.keys[${i}]`;
    if (!isPlainObject(key)) fail(option, 'must be an object');
    for (const [field, value] of Object.entries(key)) {
      if (!JWT_KEY_FIELDS.has(field)) fail(`${option}.${field}`, 'is not an option (misspelt?)');
      if (value !== undefined && typeof value !== 'string') {
        fail(`${option}.${field}`, 'must be a string');
      }
    }
    if ((key.secret === undefined) === (key.publicKey === undefined)) {
      fail(option, 'must have either a secret or a publicKey');
    }
    if (key.kid !== undefined && (!KID.test(key.kid as string) || kids.has(key.kid))) {
      fail(`${option}.kid`, 'must be 1 to 256 printable ASCII characters no other key has');
    }
    kids.add(key.kid);
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** Throws RealtimeOptionsError naming the first bad option. */
export function validateRealtimeOptions(o: ResolvedRealtimeOptions, hardened: boolean): void {
  if (typeof o.path !== 'string' || !/^\/[\w\-./]*$/.test(o.path))
    fail('path', 'must start with "/" and hold only URL path characters');
  validateJwt(o, hardened);
  for (const origin of o.allowedOrigins) {
    if (origin === '*') {
      if (hardened) fail('allowedOrigins', `"*" is refused by the ${o.profile} profile`);
    } else if (!isOrigin(origin)) {
      fail(
        'allowedOrigins',
        `holds ${shown(origin)}, which is not an origin like https://app.example.com`,
      );
    }
  }
  for (const [key, value] of Object.entries(o.limits)) positiveInteger(`limits.${key}`, value);
  positiveInteger('heartbeat.intervalMs', o.heartbeat.intervalMs);
  positiveInteger('heartbeat.pongTimeoutMs', o.heartbeat.pongTimeoutMs);
  positiveInteger('history.size', o.history.size);
  positiveInteger('history.ttlSeconds', o.history.ttlSeconds);
  positiveInteger('history.maxTopics', o.history.maxTopics);
  positiveInteger('history.maxBytes', o.history.maxBytes);
  positiveInteger('history.maxTotalBytes', o.history.maxTotalBytes);
  if (o.heartbeat.pongTimeoutMs >= o.heartbeat.intervalMs) {
    fail('heartbeat.pongTimeoutMs', 'must be shorter than heartbeat.intervalMs');
  }
  nonNegativeInteger('shutdown.graceMs', o.shutdown.graceMs);
  nonNegativeInteger('closeGraceMs', o.closeGraceMs);
  if (o.shutdown.closeCode !== 1001 && o.shutdown.closeCode !== 1012) {
    fail('shutdown.closeCode', 'must be 1001 or 1012');
  }
  if (o.engine.type !== 'memory' && o.engine.type !== 'redis') {
    fail('engine.type', 'must be "memory" or "redis"');
  }
  if (o.engine.type === 'redis' && !o.redis) fail('redis', 'is required by the redis engine');
  if (o.redis?.cluster) {
    if (!Array.isArray(o.redis.cluster.nodes) || o.redis.cluster.nodes.length === 0) {
      fail('redis.cluster.nodes', 'must list at least one node');
    }
    if (o.redis.url !== undefined) fail('redis.url', 'cannot be set with redis.cluster');
  }
  for (const key of ['pingIntervalMs', 'pingTimeoutMs'] as const) {
    if (!o.redis) break;
    positiveInteger(`redis.${key}`, o.redis[key]);
    // A dead link must be found well inside the margin the revocation replay keeps (60 s).
    if (o.redis[key] > MAX_REDIS_PING_MS)
      fail(`redis.${key}`, `must be at most ${MAX_REDIS_PING_MS}`);
  }
  // ioredis would prefix keys but not channels, nor the key names the scripts build.
  if (o.redis?.options.keyPrefix !== undefined) {
    fail('redis.options.keyPrefix', 'is not supported: use redis.keyPrefix');
  }
  if (o.redis?.cluster?.options?.keyPrefix !== undefined) {
    fail('redis.cluster.options.keyPrefix', 'is not supported: use redis.keyPrefix');
  }
  if (o.redis?.cluster?.options?.redisOptions?.keyPrefix !== undefined) {
    fail('redis.cluster.options.redisOptions.keyPrefix', 'is not supported: use redis.keyPrefix');
  }
  // On a cluster the first `{…}` of a key is its hash tag: one in the prefix would put every key
  // in one slot (and the partitions' tags could never spread), so the library places its own.
  if (o.redis?.cluster && /[{}]/.test(o.redis.keyPrefix)) {
    fail('redis.keyPrefix', 'must not contain { or }: the library places its own hash tags');
  }
  validateOffline(o);
  for (const [key, value] of Object.entries(o.jobs)) positiveInteger(`jobs.${key}`, value);
  for (const [key, value] of Object.entries(o.presence)) positiveInteger(`presence.${key}`, value);
  for (const [key, value] of Object.entries(o.events)) positiveInteger(`events.${key}`, value);
  for (const [namespace, policy] of Object.entries(o.topics)) {
    if (!NAMESPACE_PATTERN.test(namespace)) fail(`topics.${namespace}`, 'is not a valid namespace');
    validateRule(`topics.${namespace}.subscribe`, policy.subscribe);
    validateRule(`topics.${namespace}.publish`, policy.publish);
    if (policy.maxPerConnection !== undefined) {
      positiveInteger(`topics.${namespace}.maxPerConnection`, policy.maxPerConnection);
    }
    for (const [key, value] of Object.entries(policy.history ?? {})) {
      if (!['size', 'ttlSeconds', 'maxBytes'].includes(key)) {
        fail(`topics.${namespace}.history.${key}`, 'is not an option');
      }
      if (value !== undefined) positiveInteger(`topics.${namespace}.history.${key}`, value);
    }
    validateNamespacePresence(`topics.${namespace}.presence`, policy.presence);
  }
  for (const list of ['trustedProxies', 'blockedIps', 'allowedIps'] as const) {
    if (
      !Array.isArray(o.network[list]) ||
      o.network[list].some((ip) => typeof ip !== 'string' || !isIP(ip))
    ) {
      fail(`network.${list}`, 'must be a list of IP addresses');
    }
  }
}

function validateNamespacePresence(option: string, presence: unknown): void {
  if (presence === undefined) return;
  if (!isPlainObject(presence)) fail(option, 'must be an object like { joinLeave: true }');
  for (const [key, value] of Object.entries(presence)) {
    if (key !== 'joinLeave') fail(`${option}.${key}`, 'is not an option');
    if (value !== undefined && typeof value !== 'boolean') {
      fail(`${option}.${key}`, 'must be true or false');
    }
  }
}

function validateOffline(o: ResolvedRealtimeOptions): void {
  const { whenFull, ...counts } = o.offline;
  for (const [key, value] of Object.entries(counts)) positiveInteger(`offline.${key}`, value);
  if (whenFull !== 'reject' && whenFull !== 'dead-letter-oldest') {
    fail('offline.whenFull', 'must be "reject" or "dead-letter-oldest"');
  }
  positiveInteger('idempotency.windowSeconds', o.idempotency.windowSeconds);
  positiveInteger('idempotency.maxKeys', o.idempotency.maxKeys);
}

function validateJwt(o: ResolvedRealtimeOptions, hardened: boolean): void {
  const { jwt } = o;
  if (jwt.algorithms.length === 0) fail('jwt.algorithms', 'must list at least one algorithm');
  if (jwt.algorithms.some((a) => (a as string).toLowerCase() === 'none')) {
    fail('jwt.algorithms', 'must not contain "none"');
  }
  const usesHmac = jwt.algorithms.some((a) => HMAC_ALGORITHMS.test(a));
  const usesKeys = jwt.algorithms.some((a) => !HMAC_ALGORITHMS.test(a));
  if (usesHmac && usesKeys) fail('jwt.algorithms', 'must not mix HS* with public-key algorithms');
  if (jwt.jwksUrl !== undefined) validateJwks(o, usesHmac, hardened);
  if (usesHmac && !jwt.secret) fail('jwt.secret', 'is required for HS* algorithms');
  if (usesKeys && !jwt.publicKey && !jwt.jwksUrl && jwt.keys.length === 0) {
    fail('jwt.publicKey', 'is required for public-key algorithms (or jwt.keys, jwt.jwksUrl)');
  }
  jwt.keys.forEach((key, i) => {
    if (usesHmac && !key.secret) fail(`jwt.keys[${i}].secret`, 'is required for HS* algorithms');
    if (usesKeys && !key.publicKey) {
      fail(`jwt.keys[${i}].publicKey`, 'is required for public-key algorithms');
    }
  });
  if (usesHmac && hardened) {
    hardenedSecret('jwt.secret', jwt.secret, o.profile);
    jwt.keys.forEach((key, i) => hardenedSecret(`jwt.keys[${i}].secret`, key.secret, o.profile));
  }
  nonNegativeInteger('jwt.clockToleranceSec', jwt.clockToleranceSec);
}

function validateJwks(o: ResolvedRealtimeOptions, usesHmac: boolean, hardened: boolean): void {
  const { jwksUrl, jwksRefreshMs, jwksCooldownMs, issuer, audience } = o.jwt;
  if (usesHmac) fail('jwt.jwksUrl', 'needs public-key algorithms: a key set holds no HS* secret');
  let protocol: string;
  try {
    protocol = new URL(jwksUrl ?? '').protocol;
  } catch {
    fail('jwt.jwksUrl', 'must be an http(s) URL');
  }
  if (protocol !== 'https:' && (hardened || protocol !== 'http:')) {
    fail(
      'jwt.jwksUrl',
      hardened ? 'must be an https URL in this profile' : 'must be an http(s) URL',
    );
  }
  // A provider signs tokens for many apps (Google's key set signs every client's ID tokens).
  if (hardened && (!issuer || !audience)) {
    fail('jwt.jwksUrl', `needs jwt.issuer and jwt.audience in the ${o.profile} profile`);
  }
  timerMs('jwt.jwksRefreshMs', jwksRefreshMs, hardened ? 1_000 : 1);
  timerMs('jwt.jwksCooldownMs', jwksCooldownMs, hardened ? 1_000 : 1);
}

/** A delay Node's timers keep (past 2^31 - 1 ms they fire after 1 ms), at least `min`. */
function timerMs(option: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > MAX_TIMER_MS) {
    fail(option, `must be an integer from ${min} to ${MAX_TIMER_MS} (got ${shown(value)})`);
  }
}

function hardenedSecret(option: string, secret: string | undefined, profile: string): void {
  if (secret === DEV_JWT_SECRET) {
    fail(option, `is the development secret, which the ${profile} profile refuses`);
  }
  if ((secret ?? '').trim() === '') fail(option, `is blank, which the ${profile} profile refuses`);
  if ((secret ?? '').length < MIN_SECRET_LENGTH) {
    fail(option, `must be at least ${MIN_SECRET_LENGTH} characters in the ${profile} profile`);
  }
}

function validateRule(option: string, rule: TopicRule | undefined): void {
  if (rule === undefined || SIMPLE_RULES.has(rule)) return;
  if (typeof rule === 'object' && rule !== null) {
    if (
      'roles' in rule &&
      Array.isArray(rule.roles) &&
      rule.roles.every((r) => typeof r === 'string')
    ) {
      return;
    }
    if ('authorizer' in rule && typeof rule.authorizer === 'function') return;
  }
  fail(
    option,
    'must be public, authenticated, owner, none, { roles: [...] } or { authorizer: Class }',
  );
}

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.pathname === '/';
  } catch {
    return false;
  }
}

function positiveInteger(option: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    fail(option, `must be a positive integer (got ${shown(value)})`);
  }
}

function nonNegativeInteger(option: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    fail(option, `must be a non-negative integer (got ${shown(value)})`);
  }
}

/**
 * A given value in an error message, never by its own toString (an object's
 * may be missing, throw, or not be a function): strings quoted, other
 * primitives as written, anything else by its type.
 */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') {
    return typeof value === 'function' || typeof value === 'symbol'
      ? `a ${typeof value}`
      : String(value);
  }
  return Array.isArray(value) ? 'an array' : 'an object';
}

function fail(option: string, problem: string): never {
  throw new RealtimeOptionsError(option, problem);
}
