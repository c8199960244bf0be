/** Bounds the contract sets on requests (PROTOCOL.md §2), and the sizes of what the server issues. */

/** A request's `ref`, echoed by its reply. */
export const MAX_REF_LENGTH = 64;
/** `subscribe` and `unsubscribe` take 1 to this many topics. */
export const MAX_TOPICS_PER_REQUEST = 50;
/** The longest offset the server issues: a longer `since` is no offset of ours (`recovered: false`). */
export const MAX_OFFSET_LENGTH = 64;
/** A message's `type`: 1 to this many characters. */
export const MAX_TYPE_LENGTH = 100;
/** `ack` takes 1 to this many ids of retained `$user` messages (§5). */
export const MAX_ACK_IDS = 100;
/** `presence` returns at most this many members per page (`limit` 0..this; 0: the counts alone). */
export const MAX_PRESENCE_LIMIT = 1000;
/** The members a `presence` page holds when the request names no `limit`. */
export const DEFAULT_PRESENCE_LIMIT = 100;
/** A roster cursor the client passes back as-is. */
export const MAX_PRESENCE_CURSOR_LENGTH = 256;
