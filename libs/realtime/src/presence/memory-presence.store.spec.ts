import { MemoryPresenceStore } from './memory-presence.store';
import { CONTRACT_LOG_ENTRIES, presenceStoreContract } from './presence-store.contract-spec';

describe('MemoryPresenceStore', () => {
  let shared: MemoryPresenceStore;
  beforeEach(() => {
    shared = new MemoryPresenceStore(CONTRACT_LOG_ENTRIES);
  });
  // One process: every "instance" of a test shares the one store.
  presenceStoreContract('MemoryPresenceStore', () => Promise.resolve(shared));
});
