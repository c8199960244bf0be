import fc from 'fast-check';
import { contractProblem, leakIn, REPLY_OF } from '../support/contract-shapes';
import { DemoApp } from '../support/demo-app';
import type { Frame, TestClient } from '../support/ws-client';

jest.setTimeout(180_000);

/**
 * Property tests of the inbound path over real sockets (PROTOCOL.md §2, §3):
 * whatever a client sends, it gets exactly one reply of the contract's shape,
 * with a code of the contract, echoing its `ref`, never INTERNAL (an input
 * is never an internal failure), never a stack trace, and the connection
 * stays open. They drive the demo app as a black box, so they hold whatever
 * the parser, DTOs and validation pipe look like inside.
 */

const EVENTS = ['subscribe', 'unsubscribe', 'ping', 'auth', 'publish', 'ack', 'presence'];
/** Nesting at most this deep must echo a valid ref (docs/protocol.md §7: deeper may be refused unparsed). */
const ECHO_DEPTH = 16;
/** Frames stay under the demo's 64 KiB limit (a bigger one is closed with 1009, by design). */
const MAX_FRAME = 60_000;

/** A JSON value as text: objects as entry lists, so keys may repeat or be named `__proto__`. */
const json = (value: unknown) => JSON.stringify(value);
const object = (entries: ReadonlyArray<readonly [string, string]>) =>
  `{${entries.map(([key, text]) => `${json(key)}:${text}`).join(',')}}`;

const anyJson = fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }).map(json);
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', minLength: 60, maxLength: 140 }),
);
const topicName = fc.oneof(
  fc.constantFrom(
    'market_data',
    'system_alerts',
    'orders',
    'inventory:sku-1',
    'user:fuzz',
    'user:other',
    'admin',
    'chat:room',
    'bench',
    'nope',
    'constructor',
    '__proto__',
    '$broadcast',
  ),
  fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}(:[A-Za-z0-9_.@=-]{1,100})?$/),
  text,
);
/** Refs of every length up to the bound (64 UTF-16 units) and just past it, and values of other types. */
const ref = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }).map(json),
  fc.string({ unit: 'binary-ascii', maxLength: 64, size: 'max' }).map(json),
  fc.string({ minLength: 62, maxLength: 67 }).map(json),
  anyJson,
);
const strings = (item: fc.Arbitrary<string>, maxLength: number) =>
  fc.oneof(
    fc.array(item.map(json), { maxLength }).map((items) => `[${items.join(',')}]`),
    anyJson,
  );
const offset = fc.oneof(fc.stringMatching(/^\d{1,17}-\d{1,17}$/), text).map(json);
const since = fc.oneof(
  fc
    .array(fc.tuple(topicName, fc.oneof(offset, anyJson)), { maxLength: 60 })
    .map((entries) => object(entries)),
  anyJson,
);

/** Fields each event knows, with values of any type; plus keys no event knows. */
const FIELDS: Record<string, fc.Arbitrary<string>> = {
  ref,
  topics: strings(topicName, 60),
  since,
  presence: anyJson,
  token: fc.oneof(text.map(json), fc.constant(json('a.b.c')), anyJson),
  topic: fc.oneof(topicName.map(json), anyJson),
  type: fc.oneof(text.map(json), anyJson),
  payload: anyJson,
  ids: strings(fc.string({ maxLength: 70 }), 120),
  cursor: anyJson,
  limit: fc.oneof(fc.integer({ min: -5, max: 2000 }).map(json), anyJson),
};
const fieldName = fc.oneof(
  fc.constantFrom(...Object.keys(FIELDS)),
  fc.constantFrom('constructor', 'toString', '__proto__', 'prototype', 'hasOwnProperty', 'x'),
  fc.string({ maxLength: 12 }),
);
const dataObject = fc
  .array(
    fieldName.chain((name) =>
      (Object.hasOwn(FIELDS, name) ? FIELDS[name] : anyJson).map((value) => [name, value] as const),
    ),
    { maxLength: 8 },
  )
  .map(object);
const anyFrame = fc
  .record({
    event: fc.oneof(fc.constantFrom(...EVENTS).map(json), text.map(json), anyJson),
    data: fc.oneof({ weight: 6, arbitrary: dataObject }, { weight: 1, arbitrary: anyJson }),
    extra: fc.array(fc.tuple(fc.string({ maxLength: 8 }), anyJson), { maxLength: 2 }),
  })
  .map(({ event, data, extra }) => object([['event', event], ['data', data], ...extra]));

/** Values each field takes when a client means well: the success paths get as much as the refusals. */
const pool = fc.constantFrom(
  'market_data',
  'orders',
  'chat:a',
  'bench',
  'user:fuzz',
  'inventory:x',
);
const WELL_MEANT: Record<string, fc.Arbitrary<string>> = {
  ref: ref,
  topics: fc.array(pool, { minLength: 1, maxLength: 5 }).map(json),
  since: fc.dictionary(pool, fc.stringMatching(/^\d{1,16}-\d{1,16}$/), { maxKeys: 3 }).map(json),
  token: text.map(json),
  topic: pool.map(json),
  type: fc.string({ minLength: 1, maxLength: 20 }).map(json),
  payload: anyJson,
  ids: fc
    .array(fc.string({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 5 })
    .map(json),
  cursor: fc.constant('null'),
  limit: fc.integer({ min: 0, max: 1_000 }).map(json),
};
const FIELDS_OF: Record<string, string[]> = {
  subscribe: ['topics', 'since', 'ref'],
  unsubscribe: ['topics', 'ref'],
  ping: ['ref'],
  auth: ['token', 'ref'],
  publish: ['topic', 'type', 'payload', 'ref'],
  ack: ['ids', 'ref'],
  presence: ['topic', 'cursor', 'limit', 'ref'],
};
/** One event with its own fields, mostly well meant, now and then one of any type or one it does not know. */
const eventFrame = fc.constantFrom(...EVENTS).chain((event) =>
  fc
    .tuple(
      ...FIELDS_OF[event].map((field) =>
        fc.option(
          fc
            .oneof(
              { weight: 8, arbitrary: WELL_MEANT[field] },
              { weight: 1, arbitrary: FIELDS[field] },
            )
            .map((value) => [field, value] as const),
          { nil: undefined, freq: 4 },
        ),
      ),
      fc.option(fc.tuple(fieldName, anyJson), { nil: undefined, freq: 6 }),
    )
    .map((entries) =>
      object([
        ['event', json(event)],
        ['data', object(entries.filter((entry) => entry !== undefined))],
      ]),
    ),
);
const structuredFrame = fc.oneof(anyFrame, eventFrame);

/** Nesting from shallow to far past every limit, inside `data` or around the whole frame, closed or not. */
const deepFrame = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 11_000 })),
    open: fc.constantFrom('[', '{"a":'),
    inData: fc.boolean(),
    closed: fc.boolean(),
    event: fc.constantFrom(...EVENTS),
    refText: fc.string({ maxLength: 10 }),
  })
  .map(({ depth, open, inData, closed, event, refText }) => {
    const close = open === '[' ? ']' : '}';
    const nest = open.repeat(depth) + '1' + (closed ? close.repeat(depth) : '');
    return inData ? `{"event":${json(event)},"data":{"ref":${json(refText)},"x":${nest}}}` : nest;
  })
  .filter((frame) => Buffer.byteLength(frame) <= MAX_FRAME);

/** Many keys or items where a frame may hold them (data, payload, since, topics, ids). */
const wideFrame = fc
  .record({
    count: fc.integer({ min: 1, max: 3_000 }),
    where: fc.constantFrom('data', 'payload', 'since', 'topics', 'ids'),
    item: fc.oneof(fc.constant('1'), fc.constant('"market_data"'), anyJson),
  })
  .map(({ count, where, item }) => {
    const many = Array.from({ length: count }, (_, i) => [`k${i}`, item] as const);
    const list = `[${many.map(([, value]) => value).join(',')}]`;
    switch (where) {
      case 'data':
        return object([
          ['event', json('ping')],
          ['data', object(many)],
        ]);
      case 'payload':
        return object([
          ['event', json('publish')],
          [
            'data',
            object([
              ['topic', json('chat:room')],
              ['type', json('t')],
              ['payload', object(many)],
            ]),
          ],
        ]);
      case 'since':
        return object([
          ['event', json('subscribe')],
          [
            'data',
            object([
              ['topics', json(['market_data'])],
              ['since', object(many)],
            ]),
          ],
        ]);
      default:
        return object([
          ['event', json(where === 'topics' ? 'unsubscribe' : 'ack')],
          ['data', object([[where, list]])],
        ]);
    }
  })
  .filter((frame) => Buffer.byteLength(frame) <= MAX_FRAME);

/** The demo's policies (PROTOCOL.md §7) for a user called `fuzz` without roles. */
function policyAllows(topic: string): boolean {
  const [namespace, key] = topic.split(':');
  if (
    ['market_data', 'system_alerts', 'bench', 'orders', 'inventory', 'chat'].includes(namespace)
  ) {
    return true;
  }
  return namespace === 'user' && key === 'fuzz';
}

const TOPIC = /^[a-z][a-z0-9_-]{0,31}(:[A-Za-z0-9_.@=-]{1,100})?$/;

/**
 * What `subscribe` must answer on a fresh connection (PROTOCOL.md §2, docs/protocol.md §7):
 * BAD_REQUEST for a malformed request, else the first refused topic in request order, else
 * every topic once, in order, with `recovered: false` exactly where `since` names it (nothing
 * has history here, so no `since` string is a known offset).
 */
function expectedSubscribe(topics: unknown[], since: Record<string, unknown> | undefined) {
  const sinceValid =
    since === undefined ||
    (Object.keys(since).length <= 50 &&
      Object.entries(since).every(
        // A `__proto__` key anywhere refuses the frame (docs/protocol.md, BAD_REQUEST); any
        // string is an offset, an unknown one (however long) answered `recovered: false`.
        ([key, value]) => key !== '__proto__' && typeof value === 'string',
      ));
  if (
    topics.length < 1 ||
    topics.length > 50 ||
    !topics.every((t) => typeof t === 'string') ||
    !sinceValid
  ) {
    return { code: 'BAD_REQUEST' };
  }
  const wanted = [...new Set(topics)];
  for (const topic of wanted) {
    if (!TOPIC.test(topic)) return { code: 'INVALID_TOPIC', topic };
    if (!policyAllows(topic)) return { code: 'FORBIDDEN_TOPIC', topic };
  }
  return {
    topics: wanted.map((topic) =>
      since !== undefined && Object.hasOwn(since, topic) ? { topic, recovered: false } : { topic },
    ),
  };
}

function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, depth + 1);
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** What the reply must echo: `data.ref` when the frame is a JSON object whose data holds a valid ref. */
/**
 * The ref a reply must echo (PROTOCOL §2: whenever the frame was JSON with a valid ref).
 * `mayDrop`: the frame is too deep to parse, so the reply may lack it. `mayEcho`: the frame
 * is not JSON, so nothing is owed, but a refusal made by the byte scan before any parse
 * (an unknown field) may still echo the `"ref":"…"` it found in the text.
 */
function sentRef(raw: string): { ref: string | undefined; mayDrop: boolean; mayEcho: boolean } {
  try {
    const frame = JSON.parse(raw) as unknown;
    const data = (frame as { data?: { ref?: unknown } })?.data;
    const ref = data?.ref;
    const valid =
      typeof frame === 'object' &&
      !Array.isArray(frame) &&
      typeof data === 'object' &&
      data !== null &&
      typeof ref === 'string' &&
      ref.length <= 64;
    return { ref: valid ? ref : undefined, mayDrop: depthOf(frame) > ECHO_DEPTH, mayEcho: false };
  } catch {
    return { ref: undefined, mayDrop: false, mayEcho: true };
  }
}

function eventOf(raw: string): unknown {
  try {
    return (JSON.parse(raw) as { event?: unknown })?.event;
  } catch {
    return undefined;
  }
}

describe('inbound frames, whatever they hold', () => {
  let app: DemoApp;
  let token: string;
  let client: TestClient;
  let sent = 0;
  let barriers = 0;

  beforeAll(async () => {
    app = await DemoApp.start();
    token = await app.token('fuzz');
  });
  afterAll(() => app?.stop());

  /** A fresh connection now and then: per-connection limits (churn, subscriptions) must not hide the other paths. */
  async function connection(): Promise<TestClient> {
    if (!client?.isOpen || ++sent % 40 === 0) {
      await client?.close();
      client = await app.connect({ token });
    }
    return client;
  }

  /** Sends one frame, then a ping barrier: resolves with every frame that answered it. */
  async function exchange(raw: string | Buffer, binary = false): Promise<Frame[]> {
    const socket = await connection();
    const from = socket.frames.length;
    socket.sendRaw(raw, { binary });
    const barrier = `⟂${++barriers}`;
    socket.send('ping', { ref: barrier });
    const pong = await socket.waitFor((f) => f.event === 'pong' && f.data?.ref === barrier, {
      from,
      timeoutMs: 10_000,
    });
    expect(socket.isOpen).toBe(true);
    return socket.frames.slice(from, socket.frames.indexOf(pong));
  }

  /** The properties every reply keeps: one reply, its shape, its code, its ref, no leak. */
  function checkReply(raw: string | Buffer, frames: Frame[], binary = false): void {
    const problems = frames.map(contractProblem).filter(Boolean);
    const replies = frames.filter((f) => f.event !== 'message');
    const reply = replies[0];
    const event = binary ? undefined : eventOf(raw.toString());
    const expected = typeof event === 'string' ? REPLY_OF[event] : undefined;
    const { ref, mayDrop, mayEcho } = binary
      ? { ref: undefined, mayDrop: false, mayEcho: false }
      : sentRef(raw.toString());
    const replyRef = reply?.data?.ref;
    const echoedFromText =
      mayEcho && typeof replyRef === 'string' && raw.toString().includes(`"ref":${json(replyRef)}`);
    const text = JSON.stringify(frames);
    expect({
      replies: replies.length,
      problems,
      event: reply?.event === 'error' || reply?.event === expected ? 'ok' : reply?.event,
      internal: reply?.data?.code === 'INTERNAL',
      ref: (mayDrop && replyRef === undefined) || echoedFromText ? ref : replyRef,
      leak: leakIn(text),
    }).toEqual({ replies: 1, problems: [], event: 'ok', internal: false, ref, leak: undefined });
  }

  it('answers any JSON value sent as a frame', async () => {
    await fc.assert(
      fc.asyncProperty(anyJson, async (raw) => checkReply(raw, await exchange(raw), false)),
      { numRuns: 400 },
    );
  });

  it('answers frames built from the events and their fields, with values of any type and unknown keys', async () => {
    await fc.assert(
      fc.asyncProperty(structuredFrame, async (raw) => checkReply(raw, await exchange(raw))),
      { numRuns: 1_500 },
    );
  });

  it('answers deep and wide frames, and text that is not JSON', async () => {
    const anyText = fc.string({ unit: 'binary', maxLength: 300 });
    await fc.assert(
      fc.asyncProperty(fc.oneof(deepFrame, wideFrame, anyText), async (raw) =>
        checkReply(raw, await exchange(raw)),
      ),
      { numRuns: 300 },
    );
  });

  it('subscribes exactly the topics the policies allow, all or nothing, naming the first refused one', async () => {
    const pooled = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.constantFrom('market_data', 'orders', 'chat:a', 'bench', 'user:fuzz'),
      },
      { weight: 1, arbitrary: topicName },
    );
    const topicsArb = fc.oneof(
      { weight: 8, arbitrary: fc.array(pooled, { minLength: 1, maxLength: 6 }) },
      { weight: 1, arbitrary: fc.array(fc.oneof(pooled, fc.integer()), { maxLength: 60 }) },
    );
    const sinceArb = fc.option(
      fc.dictionary(
        fc.oneof(pooled, fc.string({ maxLength: 140 })),
        fc.oneof(
          fc.stringMatching(/^\d{1,16}-\d{1,16}$/),
          fc.string({ maxLength: 70 }),
          fc.integer(),
          fc.constant(null),
        ),
        { maxKeys: 8 },
      ),
      { nil: undefined },
    );
    await fc.assert(
      fc.asyncProperty(topicsArb, sinceArb, async (topics, since) => {
        const fresh = await app.connect({ token });
        const reply = await fresh.request(
          'subscribe',
          since === undefined ? { topics } : { topics, since },
        );
        await fresh.close();
        const expected = expectedSubscribe(topics, since);
        if ('code' in expected) {
          expect(reply.event).toBe('error');
          expect({ code: reply.data.code, topic: reply.data.topic }).toEqual(expected);
        } else {
          expect(reply.event).toBe('subscribed');
          const answered = (reply.data.topics as Array<Record<string, unknown>>).map(
            ({ topic, recovered }) => (recovered === undefined ? { topic } : { topic, recovered }),
          );
          expect(answered).toEqual(expected.topics);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('answers binary frames of any bytes with BAD_REQUEST', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2_000 }), async (bytes) => {
        const frames = await exchange(Buffer.from(bytes), true);
        checkReply(Buffer.from(bytes), frames, true);
        expect(frames[0].data.code).toBe('BAD_REQUEST');
      }),
      { numRuns: 100 },
    );
  });
});

/**
 * What reading a frame costs (PROTOCOL.md §3): linear in its size, and of
 * the order of JSON.parse of the same bytes, whatever the frame's shape.
 * Cost is CPU time of this process (server and client both live here) from
 * sending the frame to its reply, the median of interleaved rounds: other
 * processes on the machine do not count, and a slow moment hits every size.
 */
describe('what reading a frame costs', () => {
  const SIZES = [8_192, 65_536, 524_288];
  const WHERE = ['data', 'payload-object', 'payload-array', 'since', 'topics', 'ids'];
  const ROUNDS = 5;
  /** 64 times the bytes may cost at most 64 × this much more (linear, with room for noise). */
  const SCALING_SLACK = 2.5;
  /**
   * At the largest size, at most this many times JSON.parse of the same
   * bytes, plus 5 ms per 128 KiB for what JSON.parse does not do (the socket,
   * the pre-scan, the reply): V8 parses an array of 60,000 nulls in 0.5 ms.
   */
  const PARSE_FACTOR = 50;
  const BEYOND_PARSE_MS_PER_BYTE = 5 / 131_072;
  let app: DemoApp;
  let client: TestClient;

  beforeAll(async () => {
    app = await DemoApp.start({ REALTIME_MAX_MESSAGE_BYTES: String(1024 * 1024) });
    client = await app.connect({ token: await app.token('fuzz') });
  });
  afterAll(() => app?.stop());

  /** A frame of about `bytes` bytes: one item repeated where a frame may repeat things. */
  function frameOf(where: string, item: string, bytes: number): string {
    const count = Math.max(1, Math.floor(bytes / (item.length + 8)));
    const list = `[${Array(count).fill(item).join(',')}]`;
    const map = object(Array.from({ length: count }, (_, i) => [`k${i}`, item] as const));
    switch (where) {
      case 'data':
        return `{"event":"ping","data":${map}}`;
      case 'payload-object':
        return `{"event":"publish","data":{"topic":"chat:a","type":"t","payload":${map}}}`;
      case 'payload-array':
        return `{"event":"publish","data":{"topic":"chat:a","type":"t","payload":${list}}}`;
      case 'since':
        return `{"event":"subscribe","data":{"topics":["market_data"],"since":${map}}}`;
      case 'topics':
        return `{"event":"unsubscribe","data":{"topics":${list}}}`;
      default:
        return `{"event":"ack","data":{"ids":${list}}}`;
    }
  }

  const cpuMs = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };

  async function costOf(frame: string): Promise<number> {
    const start = cpuMs();
    const from = client.frames.length;
    client.sendRaw(frame);
    await client.waitFor(() => true, { from, timeoutMs: 30_000 });
    return cpuMs() - start;
  }

  function parseMs(frame: string): number {
    const start = cpuMs();
    for (let i = 0; i < 5; i++) JSON.parse(frame);
    return (cpuMs() - start) / 5;
  }

  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

  it('grows linearly with the frame and stays of the order of JSON.parse, whatever repeats in it', async () => {
    const item = fc.oneof(
      fc.constantFrom('1', '"market_data"', 'null', '"\\u00e9\\n\\"x"', '{"a":[1,{"b":"c"}]}'),
      fc
        .jsonValue({ maxDepth: 2 })
        .map(json)
        .filter((text) => text.length <= 40),
    );
    await fc.assert(
      fc.asyncProperty(item, async (repeated) => {
        // Every place a frame may repeat things, each time: a cost that is not linear in one of
        // them cannot hide behind the draw.
        for (const where of WHERE) {
          const frames = SIZES.map((bytes) => frameOf(where, repeated, bytes));
          const costs: number[][] = SIZES.map(() => []);
          const parses: number[][] = SIZES.map(() => []);
          const growth = frames[2].length / frames[0].length;
          await costOf(frames[0]);
          for (let round = 0; round < ROUNDS; round++) {
            for (let i = 0; i < SIZES.length; i++) {
              costs[i].push(await costOf(frames[i]));
              parses[i].push(parseMs(frames[i]));
            }
            // Far past the bound already (a quadratic path): no need to wait for more rounds.
            if (costs[2][round] > costs[0][round] * growth * SCALING_SLACK * 4) break;
          }
          const [small, , large] = costs.map(median);
          const parse = median(parses[2]);
          const measured = {
            where,
            item: repeated,
            costMs: { small, large },
            parseMs: parse,
            linear: large / small <= growth * SCALING_SLACK,
            likeParse: large <= PARSE_FACTOR * parse + BEYOND_PARSE_MS_PER_BYTE * frames[2].length,
          };
          expect(measured).toEqual({ ...measured, linear: true, likeParse: true });
        }
      }),
      { numRuns: 4 },
    );
  });
});
