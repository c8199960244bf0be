// Turns per-repetition metrics into summaries (median, min–max, ratios to ws-bare) and renders
// them as a console table, JSON and docs/benchmarks.md.
import { burstMessages } from './config.mjs';
import { spread } from './stats.mjs';

export const REFERENCE = 'ws-bare';
const CPU_PEERS = ['ws-bare', 'ws-preframed', 'socketio', 'demo', 'socketio-redis'];

function k(n) {
  return n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

/** The metrics of a run, in display order. `better` says which direction is good. */
export function metricCatalog(config) {
  const rows = [];
  const add = (key, label, unit, digits, better, headline = false) =>
    rows.push({ key, label, unit, digits, better, headline });
  for (const n of config.scales) {
    add(`cpuPerDelivery.${n}`, `server CPU per delivery @${k(n)}`, 'µs', 2, 'lower', true);
    add(`userPerDelivery.${n}`, `of which user @${k(n)}`, 'µs', 2, 'lower');
    add(`sysPerDelivery.${n}`, `of which sys @${k(n)}`, 'µs', 2, 'lower');
    add(`deliveriesPerSec.${n}`, `deliveries/s (burst) @${k(n)}`, 'k/s', 0, 'higher');
  }
  for (const rate of config.rates) {
    const at = `${rate}/s @${k(config.latencyScale)}`;
    add(
      `pacedCpuPerDelivery.${rate}`,
      `server CPU per delivery, paced ${at}`,
      'µs',
      2,
      'lower',
      true,
    );
  }
  for (const n of config.scales) {
    add(`heapPerConn.${n}`, `heap per idle subscribed conn @${k(n)}`, 'KB', 2, 'lower');
    add(`rssPerConn.${n}`, `RSS per idle subscribed conn @${k(n)}`, 'KB', 2, 'lower');
  }
  for (const rate of config.rates) {
    const at = `${rate}/s @${k(config.latencyScale)}`;
    add(`latencyP50.${rate}`, `latency p50, ${at}`, 'ms', 1, 'lower');
    add(`latencyP99.${rate}`, `latency p99, ${at}`, 'ms', 1, 'lower');
    add(`latencyMax.${rate}`, `latency max, ${at}`, 'ms', 1, 'lower');
    add(`cpuShare.${rate}`, `server CPU, ${at}`, '% core', 0, 'lower');
  }
  add(
    'setupPerSec',
    `connection setup with JWT (${config.setupConnections})`,
    'conn/s',
    0,
    'higher',
  );
  add('setupCpuPerConn', 'server CPU per connection set up with JWT', 'µs', 0, 'lower');
  add('setupRedisCpuPerConn', 'of which Redis, with JWT', 'µs', 0, 'lower');
  add(
    'anonSetupPerSec',
    `connection setup without JWT (${config.setupConnections})`,
    'conn/s',
    0,
    'higher',
  );
  add('anonSetupCpuPerConn', 'server CPU per connection set up without JWT', 'µs', 0, 'lower');
  add('anonSetupRedisCpuPerConn', 'of which Redis, without JWT', 'µs', 0, 'lower');
  const high = `${config.setupHighInFlight} in flight`;
  add('setupHighPerSec', `connection setup with JWT, ${high}`, 'conn/s', 0, 'higher');
  add('setupHighCpuPerConn', `server CPU per connection with JWT, ${high}`, 'µs', 0, 'lower');
  add('setupHighRedisCpuPerConn', `of which Redis, with JWT, ${high}`, 'µs', 0, 'lower');
  add('anonSetupHighPerSec', `connection setup without JWT, ${high}`, 'conn/s', 0, 'higher');
  add(
    'anonSetupHighCpuPerConn',
    `server CPU per connection without JWT, ${high}`,
    'µs',
    0,
    'lower',
  );
  add('anonSetupHighRedisCpuPerConn', `of which Redis, without JWT, ${high}`, 'µs', 0, 'lower');
  add(
    'notifyPerSec',
    `notifications to offline users, burst of ${config.notifies}`,
    'notify/s',
    0,
    'higher',
  );
  add('notifyCpu', 'server CPU per notification to an offline user', 'µs', 0, 'lower');
  add('notifyRedisOps', 'Redis commands run per notification (HTTP burst)', 'cmd', 1, 'lower');
  add(
    'inprocNotifyCpu',
    'in-process notification (BroadcastService, no HTTP): CPU each',
    'µs',
    1,
    'lower',
  );
  add('inprocNotifyPerSec', 'in-process notifications per second', 'notify/s', 0, 'higher');
  add('inprocNotifyRedisCpu', 'in-process notification: Redis CPU each', 'µs', 1, 'lower');
  add(
    'inprocNotifyCommands',
    'in-process notification: Redis commands sent each',
    'cmd',
    2,
    'lower',
  );
  add(
    'inprocNotifyRedisOps',
    'in-process notification: Redis commands run each (scripts inner calls included)',
    'cmd',
    1,
    'lower',
  );
  add(
    'stormRecoverySeconds',
    `reconnect storm (${config.stormClients} clients): restart to all subscribed again`,
    's',
    2,
    'lower',
  );
  add(
    'stormAfterStartSeconds',
    'reconnect storm: from the restart serving to all back',
    's',
    2,
    'lower',
  );
  add('stormCpuPerClient', 'reconnect storm: server CPU per client back', 'µs', 0, 'lower');
  const n = config.setupConnections;
  add(
    'presenceOffSetupPerSec',
    `setup + subscribe, topic without presence (${n})`,
    'conn/s',
    0,
    'higher',
  );
  add(
    'presenceOnSetupPerSec',
    `setup + subscribe with presence: true (${n})`,
    'conn/s',
    0,
    'higher',
  );
  add('presenceSetupRateRatio', 'setup rate, presence on ÷ off', '×', 2, 'higher', true);
  add(
    'presenceOffSetupCpuPerConn',
    'server CPU per setup + subscribe, no presence',
    'µs',
    0,
    'lower',
  );
  add(
    'presenceOnSetupCpuPerConn',
    'server CPU per setup + subscribe with presence',
    'µs',
    0,
    'lower',
  );
  add('presenceSetupCpuRatio', 'setup CPU, presence on ÷ off', '×', 2, 'lower');
  const members = `among ${n} members, over the wire`;
  add('presenceCountP50Us', `presence count read (limit: 0) ${members}, p50`, 'µs', 0, 'lower');
  add('presenceCountP99Us', `presence count read (limit: 0) ${members}, p99`, 'µs', 0, 'lower');
  add('presencePageP50Us', `presence 100-member page ${members}, p50`, 'µs', 0, 'lower');
  add('presencePageP99Us', `presence 100-member page ${members}, p99`, 'µs', 0, 'lower');
  add('presenceReadPingP99Us', '(ping on the same connection, p99: the floor)', 'µs', 0, 'lower');
  add(
    'connectedOffSetupPerSec',
    `connect storm without a connected handler (${n})`,
    'conn/s',
    0,
    'higher',
  );
  add(
    'connectedOnSetupPerSec',
    `connect storm with a connected handler (${n})`,
    'conn/s',
    0,
    'higher',
  );
  add(
    'connectedOffSetupCpuPerConn',
    'server CPU per connection, no connected handler',
    'µs',
    0,
    'lower',
  );
  add(
    'connectedOnSetupCpuPerConn',
    'server CPU per connection, with a connected handler',
    'µs',
    0,
    'lower',
  );
  add('connectedSetupCpuRatio', 'setup CPU, connected handler on ÷ off', '×', 2, 'lower', true);
  // Diagnostic: if the clients approach a full core, burst throughput is client-bound.
  for (const n of config.scales) {
    add(
      `clientCpuPerDelivery.${n}`,
      `(load generator CPU per delivery, burst @${k(n)})`,
      'µs',
      2,
      'lower',
    );
  }
  return rows;
}

/** runs: [{ server, rep, metrics }] -> { [metricKey]: { [server]: { median, min, max, n, ratio } } } */
export function summarize(catalog, servers, runs) {
  const summary = {};
  for (const row of catalog) {
    summary[row.key] = {};
    for (const server of servers) {
      const values = runs.filter((r) => r.server === server).map((r) => r.metrics?.[row.key]);
      summary[row.key][server] = spread(values);
    }
    const ref = summary[row.key][REFERENCE]?.median;
    for (const server of servers) {
      const s = summary[row.key][server];
      if (s && ref) s.ratio = s.median / ref;
    }
  }
  return summary;
}

/** The CPU-per-delivery metrics that get ratio matrices: each burst size, each paced rate. */
function cpuKeys(config) {
  return [
    ...config.scales.map((n) => ({ key: `cpuPerDelivery.${n}`, title: `burst @${k(n)}` })),
    ...config.rates.map((rate) => ({
      key: `pacedCpuPerDelivery.${rate}`,
      title: `paced ${rate}/s @${k(config.latencyScale)}`,
    })),
  ];
}

/** Ratio matrices (row server ÷ column peer) of the median CPU per delivery. */
export function cpuRatios(config, servers, summary) {
  const peers = CPU_PEERS.filter((p) => servers.includes(p));
  return cpuKeys(config).map(({ key, title }) => {
    const medians = summary[key];
    const rows = servers.map((server) => ({
      server,
      ratios: Object.fromEntries(
        peers.map((peer) => {
          const a = medians[server]?.median;
          const b = medians[peer]?.median;
          return [peer, a && b ? a / b : null];
        }),
      ),
    }));
    return { key, title, peers, rows };
  });
}

/** Redis mode against single node and against its peer: [label, numerator, denominator]. */
const CLUSTER_PAIRS = [
  ['demo-redis ÷ demo', 'demo-redis', 'demo'],
  ['demo-redis-cluster ÷ demo-redis', 'demo-redis-cluster', 'demo-redis'],
  ['demo-redis ÷ socketio-redis', 'demo-redis', 'socketio-redis'],
  ['socketio-redis ÷ socketio', 'socketio-redis', 'socketio'],
];

/** Ratios of medians between the Redis-mode servers and their single-node selves and peers. */
export function clusterRatios(config, catalog, servers, summary) {
  const pairs = CLUSTER_PAIRS.filter(([, a, b]) => servers.includes(a) && servers.includes(b));
  if (pairs.length === 0) return null;
  const keys = [...cpuKeys(config).map(({ key }) => key), 'setupPerSec', 'anonSetupPerSec'];
  const labels = Object.fromEntries(catalog.map((row) => [row.key, row.label]));
  return {
    pairs: pairs.map(([label]) => label),
    rows: keys.map((key) => ({
      metric: labels[key],
      ratios: pairs.map(([, a, b]) => {
        const x = summary[key]?.[a]?.median;
        const y = summary[key]?.[b]?.median;
        return x && y ? x / y : null;
      }),
    })),
  };
}

/** Issue 19's targets for the presence and lifecycle rows: [metric, server, bound, label]. */
const PRESENCE_TARGETS = [
  ['presenceSetupRateRatio', 'demo', 0.85, 'setup rate, presence on ÷ off'],
  ['presenceSetupRateRatio', 'demo-redis', 0.75, 'setup rate, presence on ÷ off'],
  ['presenceSetupRateRatio', 'demo-redis-cluster', 0.75, 'setup rate, presence on ÷ off'],
  ['connectedSetupCpuRatio', 'demo', 1.3, 'setup CPU, connected handler on ÷ off'],
  ['connectedSetupCpuRatio', 'demo-redis', 1.3, 'setup CPU, connected handler on ÷ off'],
  ['connectedSetupCpuRatio', 'demo-redis-cluster', 1.3, 'setup CPU, connected handler on ÷ off'],
];

/**
 * The presence and connected-handler ratios (medians over repetitions) beside their targets:
 * [{ label, server, median, min, max, target, met }] for those measured in this run.
 */
export function presenceTargets(catalog, summary) {
  const better = Object.fromEntries(catalog.map((row) => [row.key, row.better]));
  return PRESENCE_TARGETS.filter(([key, server]) => summary[key]?.[server]?.median).map(
    ([key, server, bound, label]) => {
      const s = summary[key][server];
      const higher = better[key] === 'higher';
      return {
        label,
        server,
        median: s.median,
        min: s.min,
        max: s.max,
        n: s.n,
        target: `${higher ? '≥' : '≤'} ${bound}`,
        met: higher ? s.median >= bound : s.median <= bound,
      };
    },
  );
}

function targetRow(t) {
  const range = t.n > 1 ? ` (${t.min.toFixed(2)}–${t.max.toFixed(2)})` : '';
  return [t.label, t.server, `×${t.median.toFixed(2)}${range}`, t.target, t.met ? 'yes' : 'no'];
}

const TARGET_HEADER = ['ratio', 'server', 'median (min–max)', 'target', 'met'];

function ratioText(r) {
  return r ? `×${r.toFixed(2)}` : '–';
}

function fmt(value, digits, unit) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const v = unit === 'k/s' ? value / 1000 : value;
  return v.toFixed(digits);
}

function cell(s, row, { withRatio }) {
  if (!s) return 'n/a';
  const digits = row.unit === 'k/s' ? 1 : row.digits;
  let text = fmt(s.median, digits, row.unit);
  if (s.n > 1) text += ` (${fmt(s.min, digits, row.unit)}–${fmt(s.max, digits, row.unit)})`;
  if (withRatio && s.ratio !== undefined) text += ` ×${s.ratio.toFixed(2)}`;
  return text;
}

function tableRows(catalog, servers, summary) {
  return catalog.map((row) => [
    `${row.label} [${row.unit}]`,
    ...servers.map((server) =>
      cell(summary[row.key][server], row, { withRatio: server !== REFERENCE }),
    ),
  ]);
}

export function renderText(catalog, servers, summary, ratios, cluster, targets = []) {
  const header = ['metric (median (min–max) ×ratio to ws-bare)', ...servers];
  const rows = tableRows(catalog, servers, summary);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  for (const matrix of ratios) {
    out.push('', `CPU per delivery, ${matrix.title}: ratio row ÷ column (medians)`);
    out.push(['', ...matrix.peers].map((c) => c.padStart(14)).join(''));
    for (const r of matrix.rows) {
      out.push(
        [r.server, ...matrix.peers.map((p) => (r.ratios[p] ? `×${r.ratios[p].toFixed(2)}` : '–'))]
          .map((c) => c.padStart(14))
          .join(''),
      );
    }
  }
  if (targets.length > 0) {
    out.push('', 'Presence and lifecycle events, against their targets:');
    for (const row of targets.map(targetRow)) out.push(`  ${row.join('   ')}`);
  }
  if (cluster) {
    out.push('', 'Redis mode: ratio of medians');
    for (const row of cluster.rows) {
      out.push(
        `${row.metric.padEnd(44)}${row.ratios.map((r, i) => `${cluster.pairs[i]} ${ratioText(r)}`).join('   ')}`,
      );
    }
  }
  return out.join('\n');
}

function markdownTable(header, rows) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function renderMarkdown({
  config,
  machine,
  servers,
  serverInfo,
  catalog,
  summary,
  ratios,
  cluster,
  targets = [],
  capacity,
  notes,
  started,
  durationS,
}) {
  const rows = tableRows(catalog, servers, summary).map((r, i) =>
    catalog[i].headline ? r.map((c) => `**${c}**`) : r,
  );
  const ratioTables = ratios
    .map((m) => {
      const body = m.rows.map((r) => [
        r.server,
        ...m.peers.map((p) => (r.ratios[p] ? `×${r.ratios[p].toFixed(2)}` : '–')),
      ]);
      return `**${m.title}**\n\n${markdownTable(['server', ...m.peers.map((p) => `÷ ${p}`)], body)}`;
    })
    .join('\n\n');
  const clusterTable = cluster
    ? markdownTable(
        ['metric', ...cluster.pairs],
        cluster.rows.map((row) => [row.metric, ...row.ratios.map(ratioText)]),
      )
    : 'Not measured in this run (no Redis-mode server with its single-node counterpart).';
  const targetTable = targets.length
    ? markdownTable(TARGET_HEADER, targets.map(targetRow))
    : 'Not measured in this run (the `presence` and `connected` phases run on the demo only).';
  const serverList = serverInfo
    .map(
      (s) =>
        `- \`${s.name}\`: ${s.description}${s.available ? '' : ` — **not measured: ${s.reason.split('\n')[0]}**`}`,
    )
    .join('\n');
  const noteList = notes.length
    ? notes.map((n) => `- ${n.server} rep ${n.rep}: ${n.text.replace(/\n/g, ' ')}`).join('\n')
    : '- none';

  return `# Benchmarks

<!-- Generated by \`npm run bench\` (bench/run.mjs). Edits are overwritten on the next run. -->

Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC; the run took ${(durationS / 60).toFixed(1)} min.

**Machine:** ${machine.cpuModel}, ${machine.nproc} vCPU, ${machine.memoryGiB} GiB RAM, ${machine.kernel},
Node ${machine.node}, open-file limit ${machine.openFileLimit ?? 'unknown'}. Servers, load generator
and publisher share the machine and talk over loopback.

**Run:** ${config.repeat} repetition(s), servers alternating within each repetition (order rotated
per repetition); subscribers ${config.scales.join(', ')}; bursts of
${config.scales.map((n) => `${burstMessages(config, n)} publishes @${k(n)}`).join(', ')};
paced ${config.rates.join(' and ')} msgs/s for ${config.latencySeconds} s @${k(config.latencyScale)}; ${config.setupConnections}
connections for the setup rate, ${config.setupTrials} trial(s) of each setup and presence round per
repetition (a repetition reports its median trial; an on ÷ off ratio, the median of the trials'
ratios, each trial's two sides run back to back); ${config.workers} load-generator processes.

## Servers

${serverList}

All speak the same wire protocol (\`{"event","data"}\` JSON text frames, \`?token=\` HS256 JWT,
\`?subscribe=\`); Socket.IO gets the equivalent events over its own framing.

## Results

Cells: median over repetitions (min–max) and ×ratio of the median to \`ws-bare\`.
The headline is **server CPU per delivery** (user + sys of the server process, divided by
messages delivered), in bold. Read the burst and paced rows together: in a burst, many publishes
reach the server in one event-loop turn, and a server that corks each socket for the turn (the
demo's SocketWriter does) sends all of a socket's frames in one \`writev\`, while the peers make one
write per frame. Socket.IO batches part of a burst too (its frames reach the clients several
per TCP read: see the load-generator rows). Paced publishes arrive one per turn, so the paced
rows are the per-message fan-out cost with no batching possible (they also include idle work
such as heartbeats).

${markdownTable(['metric [unit]', ...servers], rows)}

### CPU per delivery, ratios (row ÷ column, medians)

${ratioTables}

### Redis mode (ratios of medians)

${clusterTable}

The Redis-mode servers run as two instances on one redis-server that the bench starts; the
subscribers are spread over both and the publisher is connected to the first, so half of the
deliveries cross Redis. Their CPU is both instances' plus redis-server's, their memory both
instances' (Redis's own memory is not counted). The paced rows are the per-message cost. In a
burst, the publishes an instance receives in one turn go to Redis as one script call
(\`PublishBatch\`), and their messages come back to every instance in a few large reads, so each
socket still gets its frames in a few \`writev\`s, as on a single node.

### Presence and lifecycle events (ratios against their targets)

${targetTable}

Presence on ÷ off: the same setup (JWT, then one \`subscribe\` request on the \`connected\`
frame), once to \`inventory:bench\` (no presence), once to \`chat:bench\` with
\`presence: true\` (presence kept, joins and leaves sent as \`presence_diff\` to every one of
them). Connected handler on ÷ off: the demo restarted with \`DEMO_CONNECTED_HANDLER=0\` and
with \`1\`; the same setup with JWT each time. Both pairs alternate their order per repetition.
Presence reads: while the ${config.setupConnections} members of \`chat:bench\` are connected, one more
client subscribed there sends \`presence\` requests one at a time (a count, \`limit: 0\`, then
100-member pages walked by cursor) and \`ping\`s, the floor of a round trip on that connection.
\`npm run bench:presence\` times the stores alone.

### Notes from this run

${noteList}

${capacity ?? ''}
## What is measured, and how

- Every server is a separate process started with \`node --expose-gc --require bench/probe.cjs\`.
  The probe only answers two IPC requests: run GC twice and report the V8 heap in use, and report
  \`process.cpuUsage()\`. RSS is read from \`/proc/<pid>/status\`. The servers' own code paths are
  untouched.
- Load: ${config.workers} worker processes hold the subscribers (a minimal RFC 6455 client over
  \`net\`: fan-out frames are counted by their first bytes; 1 socket in ${config.sampleEvery} parses
  the payload for latency). Socket.IO is spoken as raw engine.io packets, not socket.io-client.
  The publisher is one authenticated connection in the harness process.
- **Idle memory**: subscribers connect with their own JWT (user \`u<n>\`) and \`?subscribe=bench\`;
  after the server is idle, GC, heap and RSS minus the baseline (server with only the publisher
  connected), divided by subscribers. Taken before the first burst at that size.
- **Burst fan-out**: the publisher sends its publishes back to back; the clock runs until every
  subscriber has every message. CPU per delivery = server CPU (user + sys, all threads) over the
  burst ÷ deliveries. A 5-message warm-up precedes each burst. On loopback the kernel work of
  delivering to the receiving socket is charged to the sender, hence the large sys share.
- **Latency**: paced publishes carry the publisher's wall-clock send time; sampled subscribers
  subtract it on receipt (same machine, same clock). Percentiles over all samples of the run.
  The lower rate is light load. The higher one costs the \`ws\` servers about half a core and
  Socket.IO most of one, and with the load generator's share the machine is then close to
  full, so its tail shows headroom more than latency. A rate like 20 msgs/s at 10k subscribers
  would be 200k deliveries/s, more than one core can send at ~10 µs each: it would measure the
  backlog, not latency.
- **Connection setup**: from an empty server, ${config.setupConnections} connections, each with its own JWT,
  opened with at most ${config.setupConcurrency} in flight per worker; a connection counts once the
  server's \`connected\` frame arrives. Rate = connections ÷ time from first attempt to last
  \`connected\`. Then the same again without a token (anonymous), from an empty server.
  Then both again with ${config.setupHighInFlight} handshakes in flight in all (split over the workers): a
  reconnect storm has hundreds at once, not ${config.setupConcurrency}.
  Setup is measured side by side: at the start of each repetition every server is started
  afresh, all at once (idle, each its own process), and their rounds take turns: each kind of
  round on every server one after the other (the order rotated per trial), so the servers
  compared are measured seconds apart, not in sessions minutes apart (the same server's rate
  moved by nearly 2× between sessions on this shared machine). Every server process first gets
  the same unmeasured warm-up round of ${config.setupWarmUp} connections of each of those four kinds (a
  two-instance cluster gets ${config.setupWarmUp * 2}, spread over both): the rate measured is the
  connection path's, not the JIT compilation of it (which costs the demo, with more code on that
  path, more than the peers). The four then run ${config.setupTrials} time(s) on every server, and each
  row is a repetition's median trial. A round starts once every server is idle, and a round with
  JWT on the demo is followed by its users' offline grace and their \`user.offline\` events:
  that work is no setup's.
- **Notifications to offline users** (the demo, both modes): \`POST /admin/notify\` with an admin
  JWT for ${config.notifies} distinct users who are not connected, ${config.notifyConcurrency} requests in flight over keep-alive
  connections (spread over the instances), after an unmeasured warm-up of 1,000. Each one is
  retained in the user's inbox (memory, or Redis in Redis mode) until it is acknowledged or
  dead-lettered. The rate includes the HTTP stack, validation and JWT verification. Offline
  delivery is always on in the demo, so every other row of the demo is measured with it enabled.
  In Redis mode the row beside it counts every command Redis ran per notification (INFO
  commandstats, the scripts' inner calls included).
- **In-process notifications** (\`bench/notify.mjs\`, \`npm run bench:notify\`): the library's own
  share, without HTTP: a minimal app (RealtimeModule only) calls
  \`BroadcastService.sendToUser(user, type, payload, { ttlSeconds })\` for ${config.notifies} distinct offline
  users, 500 calls per event-loop turn, after a warm-up of 2,000; CPU of that process per
  notification. In Redis mode (its own redis-server) also Redis's CPU, the commands the
  instance sent per notification (counted with MONITOR on a separate burst of 2,000, so
  MONITOR's cost is in no CPU figure) and every command Redis ran (commandstats).
- **Reconnect storm** (the demo, both modes): ${config.stormClients} subscribed clients with JWT (spread over
  the instances); the first instance is stopped (SIGTERM: it closes its clients) and started
  again on the same port. Its clients reconnect with the project client's backoff (full jitter,
  a first wait under 500 ms, doubling per refused attempt up to 30 s) and subscribe again with
  \`since\` their last offset. Reported: time from the stop to the last client subscribed again
  (restart time and client backoff included), from the restarted instance passing its health
  check to then, and its CPU (plus Redis's) per client over that time. The memory engine's
  restart loses history, so its clients get \`recovered: false\`; in Redis mode they recover.
- **Presence on vs off** (the demo, both modes): ${config.setupConnections} connections with JWT (users of
  their own each round), each sending one \`subscribe\` on its \`connected\` frame and counted
  once \`subscribed\` arrives: to \`inventory:bench\` (authenticated, no presence), and with
  \`presence: true\` to \`chat:bench\` (\`chat:*\` keeps presence and sends joins and leaves, so
  every one of them also gets the topic's \`presence_diff\` frames), on a demo restarted with
  the heartbeat at 10 minutes (a beat fell at random in one side, more often in the longer one),
  after an unmeasured warm-up round of each. Rate as for the setup rows; CPU (instances plus Redis) from the first
  attempt until the server is idle again (presence diffs and writes it deferred included), less
  its idle CPU over that time. Between rounds the users' \`user.offline\` grace passes, so their
  events (the demo handles them) fall in no measurement. The pair of rounds runs
  ${config.setupTrials} time(s), its order alternating each time; the ratio rows are the median of
  the pairs' ratios. While the presence round's members are still connected (after its CPU is
  measured), one more client subscribed to \`chat:bench\` sends 1000 \`presence\` count reads
  (\`limit: 0\`), 1000 100-member pages walked by cursor and 1000 \`ping\`s, one at a time, on
  the first instance: round trips over loopback, p50 and p99.
- **Connect storm with a \`connected\` handler** (the demo, both modes): the demo is restarted
  with \`DEMO_CONNECTED_HANDLER=0\` and with \`=1\` (a provider with \`@OnRealtimeEvent('connected')\`
  that only counts, so the difference is the library's: events built, in Redis mode batched into
  Bull jobs and run by whichever instance takes them), with the heartbeat at 10 minutes so that
  no beat (a ping to every open connection) falls in either side's rounds, as one used to at
  random; each time an unmeasured warm-up round, then ${config.setupTrials} round(s) of
  ${config.setupConnections} connections with JWT (each side's median round compared), CPU measured
  as for presence, so the events queued during the storm and handled after it count.
- The load generator shares the machine's ${machine.nproc} vCPUs with the server. A subscriber costs
  the load generator about as much CPU per frame as the server (one socket read per frame: see
  the load-generator rows), so burst deliveries/s and latency are bounded by the machine, not by
  the server alone; server CPU per delivery and memory are properties of the server process. The
  latency tail is the least stable number: the server's fan-out to 10k sockets is descheduled
  whenever the load workers run, so the slowest of the paced messages (which sets p99 when
  there are only ${config.rates.map((r) => Math.round(r * config.latencySeconds)).join(' or ')}) varies by up to 2× between repetitions. Compare
  medians, and read the min–max ranges. (Pinning the server to one core and the load to the
  other with taskset made the tail worse, not better.)
- Anything else running on the machine disturbs all of this (builds and test runs included):
  a session during which other processes used more than 10% of a core (machine CPU from
  \`/proc/stat\` minus the benchmark's own processes) is flagged in the notes above, and so is a
  demo repetition whose \`dist/\` was rebuilt with other code after the run started.

## Rerun

\`\`\`sh
npm run build          # optional: the harness builds the demo itself when dist/ is stale
npm run bench          # full run (~${Math.ceil(durationS / 60)} min here); writes bench/results/latest.json and this file
npm run bench -- --quick               # smoke run at 1k, bench/results/quick.json only
npm run bench -- --servers=demo,ws-bare
BENCH_REPEAT=5 BENCH_SCALE=1000,5000 npm run bench
BENCH_PHASES=presence,connected npm run bench -- --servers=demo,demo-redis   # presence rows only
\`\`\`

\`node bench/run.mjs --help\` lists every option.
`;
}

/** docs/benchmarks.md's section on the last capacity run (bench/results/capacity.json), if any. */
export function renderCapacity(result) {
  if (!result) {
    return '## Capacity\n\nNo capacity run on record: `npm run bench:capacity` makes one.\n';
  }
  const f = (n, digits = 2) => n.toFixed(digits);
  return `## Capacity

From \`npm run bench:capacity\` (bench/capacity.mjs), run ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC
on the same machine: the demo in Redis mode as ${result.instances} instances on one redis-server,
${result.requested.toLocaleString('en')} idle connections requested, each with its own JWT and subscribed to one
topic, spread evenly over the instances (one process may hold about 20,000 sockets here).

| | |
| --- | ---: |
| subscribed / failed | ${result.subscribed.toLocaleString('en')} / ${result.failed} |
| time to connect and subscribe them all | ${f(result.connectSeconds, 1)} s |
| heap per connection (all instances, after GC) | ${f(result.heapPerConnKB)} KB |
| RSS per connection (all instances) | ${f(result.rssPerConnKB)} KB |
| Redis memory per connection (admission counts) | ${f(result.redisPerConnKB)} KB |
| RSS per instance | ${result.rssPerInstanceMB.map((mb) => `${f(mb, 0)} MB`).join(', ')} |
| one publish on the first instance, subscribers that got it | ${result.delivered.toLocaleString('en')} |
`;
}
