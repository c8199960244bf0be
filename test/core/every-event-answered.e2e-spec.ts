import { ClientEvent } from '@nest-realtime/protocol';
import { LibraryApp } from '../support/library-app';

/**
 * Every event name the wire package spells for clients has a handler: a
 * request is answered (success or error, with its ref), never met with
 * silence. An event added to the protocol (presence, say) without its
 * handler fails here.
 */
describe('every client event is answered', () => {
  let app: LibraryApp;

  beforeAll(async () => {
    app = await LibraryApp.start({ realtime: { topics: { news: { subscribe: 'public' } } } });
  });
  afterAll(() => app.stop());

  it.each(Object.values(ClientEvent))('%s, even with no data beyond its ref', async (event) => {
    const client = await app.connect('ada');
    const reply = await client.request(event, {});
    expect(reply.data.ref).toEqual(expect.any(String));
  });
});
