import { normalizeIp } from '@nestjs/throttler';
import type { IncomingMessage } from 'node:http';
import { isIP, isIPv4 } from 'node:net';
import { rememberingLast } from './remembering-last';

const FULL_IPV6 = 128;
const IPV4_MAPPED = '::ffff:';

/**
 * An IP as written in allow- and block-lists: IPv4-mapped IPv6 reduced to IPv4.
 * normalizeIp writes IPv6 as a prefix (`…/128`); the suffix is dropped so that
 * the result is still an address, which ipLimitKey can group by /64. Each
 * handshake asks twice (the accept, the upgrade): the last answer is kept.
 */
export const canonicalIp = rememberingLast(canonicalOf);

function canonicalOf(ip: string): string {
  // The common cases without normalizeIp's parsing: plain IPv4, and IPv4-mapped IPv6
  // (every IPv4 peer of a server listening on `::`).
  if (isIPv4(ip)) return ip;
  if (ip.startsWith(IPV4_MAPPED) && isIPv4(ip.slice(IPV4_MAPPED.length))) {
    return ip.slice(IPV4_MAPPED.length);
  }
  return normalizeIp(ip.trim(), FULL_IPV6).replace(/\/128$/, '');
}

/**
 * The client's address. X-Forwarded-For is believed only when the peer is a
 * trusted proxy, and then read from the right, skipping further trusted hops,
 * so a client cannot choose its own address by sending the header.
 */
export function resolveClientIp(req: IncomingMessage, trustedProxies: ReadonlySet<string>): string {
  const peer = canonicalIp(req.socket.remoteAddress ?? '');
  if (!trustedProxies.has(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i].trim();
    if (!isIP(hop)) break;
    client = canonicalIp(hop);
    if (!trustedProxies.has(client)) break;
  }
  return client;
}
