/**
 * @module
 * The store: Deno KV behind the kernel's SessionStore contract. The caller opens and closes KV.
 */
export { KvSessionStore, type KvSessionStoreOptions } from "./kv_session_store.ts";
export { KvOutbox } from "./kv_outbox.ts";
export {
  joinText,
  MAX_PARTS,
  PART_BYTES,
  type SplitText,
  splitText,
  truncationMarker,
  utf8Length,
} from "./split.ts";
