import { LibraryApp } from '../support/library-app';

/**
 * With `perMessageDeflate`, a client that negotiated compression gets its
 * own compressed copy of each pre-built frame's text: live messages, replies
 * and a `since` replay alike arrive as the same text frames.
 */
describe('per-message deflate', () => {
  let app: LibraryApp;

  beforeAll(async () => {
    app = await LibraryApp.start({
      realtime: {
        perMessageDeflate: true,
        topics: { chat: { subscribe: 'authenticated', publish: 'authenticated' } },
      },
    });
  });
  afterAll(() => app.stop());

  it('sends replies, live messages and replays as text frames to a compressing client', async () => {
    const reader = await app.connect('reader', [], { perMessageDeflate: true });
    expect(reader.socket.extensions).toContain('permessage-deflate');
    const subscribed = await reader.request('subscribe', { topics: ['chat:room'] });
    expect(subscribed.event).toBe('subscribed');
    const head = subscribed.data.topics[0].offset as string;

    const writer = await app.connect('writer', [], { perMessageDeflate: false });
    const payload = { text: 'é'.repeat(2_000), list: [1, { a: null }] };
    const published = await writer.request('publish', {
      topic: 'chat:room',
      type: 'said',
      payload,
    });
    expect(published.event).toBe('published');
    const live = await reader.waitFor((f) => f.event === 'message');
    expect(live.data).toEqual({
      topic: 'chat:room',
      type: 'said',
      payload,
      offset: published.data.offset,
      ts: expect.any(Number),
    });

    const late = await app.connect('late', [], { perMessageDeflate: true });
    const replay = await late.request('subscribe', {
      topics: ['chat:room'],
      since: { 'chat:room': head },
    });
    expect(replay.data.topics[0]).toMatchObject({ recovered: true });
    const replayed = await late.waitFor((f) => f.event === 'message');
    expect(late.raw.at(-1)).toBe(reader.raw.at(-1));
    expect(replayed.data).toEqual(live.data);
    for (const client of [reader, late]) expect(client.framesOf('<unparsable>')).toEqual([]);
  });
});
