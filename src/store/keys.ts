/**
 * Every Deno KV key the store writes, built here and nowhere else. Prefixes are one letter: keys
 * are written on every turn and each byte is stored in every key.
 */
import { utf8Length } from "./split.ts";

/** All session metadata: `["s", sessionKey]`. */
export const SESSIONS: Deno.KvKey = ["s"];

/** A session's metadata. */
export function sessionKey(key: string): Deno.KvKey {
  return ["s", key];
}

/** All transcript entries of a session, ordered by entry id then part. */
export function transcriptPrefix(session: string): Deno.KvKey {
  return ["t", session];
}

/** One part of one transcript entry; part 0 carries the entry's fields. */
export function entryKey(session: string, id: number, part: number): Deno.KvKey {
  return ["t", session, id, part];
}

/** An idempotency record; keys are scoped to their session, so two sessions never share one. */
export function idemKey(session: string, idempotencyKey: string): Deno.KvKey {
  return ["i", session, idempotencyKey];
}

/** The whole ingress log: heads `["q", runId]` and, for long texts, parts `["q", runId, n]`. */
export const INGRESS: Deno.KvKey = ["q"];

/** An ingress record's head (the record, with the first part of its text). */
export function ingressKey(runId: string): Deno.KvKey {
  return ["q", runId];
}

/** Part `part` (≥ 1) of a long ingress text. */
export function ingressPartKey(runId: string, part: number): Deno.KvKey {
  return ["q", runId, part];
}

/** An upper estimate of a key's encoded size, for keeping atomic commits under KV's limits. */
export function keyBytes(key: Deno.KvKey): number {
  let bytes = 0;
  for (const part of key) {
    if (typeof part === "string") bytes += utf8Length(part) + 2;
    else if (part instanceof Uint8Array) bytes += 2 * part.length + 2;
    else bytes += 10;
  }
  return bytes;
}

/** All outbox heads, in the order messages were queued: `["o", seq]`. */
export const OUTBOX: Deno.KvKey = ["o"];

/** An outbox head (the entry without its chunks). */
export function outboxKey(seq: string): Deno.KvKey {
  return ["o", seq];
}

/** One chunk of an outbox entry. */
export function outboxChunkKey(seq: string, index: number): Deno.KvKey {
  return ["oc", seq, index];
}

/** All chunks of an outbox entry. */
export function outboxChunksPrefix(seq: string): Deno.KvKey {
  return ["oc", seq];
}

/** The outbox sequence of a message id; kept a while after delivery so a replay is not re-sent. */
export function outboxIdKey(id: string): Deno.KvKey {
  return ["od", id];
}

/** A remembered `allow-always` approval: the tool and a digest of the exact call. */
export function approvalAllowKey(tool: string, digest: string): Deno.KvKey {
  return ["allow", tool, digest];
}

/** A pending pairing code of a channel: `["pp", channel, code]`. */
export function pairingCodeKey(channel: string, code: string): Deno.KvKey {
  return ["pp", channel, code];
}

/** All pending pairing codes (of one channel, when given). */
export function pairingCodesPrefix(channel?: string): Deno.KvKey {
  return channel === undefined ? ["pp"] : ["pp", channel];
}

/** A user approved to talk to the gateway on a channel: `["pu", channel, userId]`. */
export function pairedUserKey(channel: string, userId: string): Deno.KvKey {
  return ["pu", channel, userId];
}

/** All approved users (of one channel, when given). */
export function pairedUsersPrefix(channel?: string): Deno.KvKey {
  return channel === undefined ? ["pu"] : ["pu", channel];
}

/** A channel's owner (the first user approved on it). */
export function channelOwnerKey(channel: string): Deno.KvKey {
  return ["po", channel];
}

/** Every channel's owner record. */
export const CHANNEL_OWNERS: Deno.KvKey = ["po"];

/** The next Telegram update id to ask for (everything before it is recorded). */
export function telegramOffsetKey(): Deno.KvKey {
  return ["tg", "offset"];
}

/** Unaddressed messages of a Telegram group (or forum topic), kept as context. */
export function telegramGroupContextKey(chat: string, thread?: string): Deno.KvKey {
  return ["tg", "ctx", chat, thread ?? ""];
}

/** The draft message a Telegram run's answer is being streamed into. */
export function telegramDraftKey(runId: string): Deno.KvKey {
  return ["tg", "draft", runId];
}

/** A paired device, by its id (the SHA-256 of its public key): `["dv", deviceId]`. */
export function deviceKey(deviceId: string): Deno.KvKey {
  return ["dv", deviceId];
}

/** All paired devices. */
export const DEVICES: Deno.KvKey = ["dv"];

/** A pending device pairing request: `["dr", requestId]`. */
export function deviceRequestKey(requestId: string): Deno.KvKey {
  return ["dr", requestId];
}

/** All pending device pairing requests. */
export const DEVICE_REQUESTS: Deno.KvKey = ["dr"];

/** The pending request of a device, so a device that connects again gets the same one. */
export function deviceRequestOfKey(deviceId: string): Deno.KvKey {
  return ["drd", deviceId];
}

/** A device whose request an operator rejected recently. */
export function deviceRejectedKey(deviceId: string): Deno.KvKey {
  return ["dx", deviceId];
}
