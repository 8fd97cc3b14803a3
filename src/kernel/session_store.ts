/** The SessionStore contract: sessions, transcripts, idempotency and the durable ingress log. */
import type { OutboxInput, ReplyTarget } from "./channel.ts";

/** What to do with a message that arrives while its session is busy. */
export type QueueMode = "followup" | "collect" | "interrupt" | "steer";

/** Where replies for a session go when they leave the control plane (a channel target). */
export interface DeliveryRoute {
  channel: string;
  to: string;
  threadId?: string;
}

/** A session's metadata. */
export interface SessionMeta {
  key: string;
  createdAt: number;
  updatedAt: number;
  label?: string;
  /** `<provider>/<model>` chosen for this session; overrides `agent.model`. */
  model?: string;
  inputTokens: number;
  outputTokens: number;
  route?: DeliveryRoute;
}

/**
 * What a transcript entry is. `note` is written by the gateway (interruptions, drops, errors) and
 * never shown to the model. `tool_call` holds a call's JSON arguments and belongs to the assistant
 * entry before it; `tool_result` holds its output. `compaction` summarises the entries up to
 * `covers`, which stay stored but are no longer sent to the model.
 */
export type EntryRole = "user" | "assistant" | "note" | "tool_call" | "tool_result" | "compaction";

/** The call a `tool_call` or `tool_result` entry belongs to. */
export interface EntryTool {
  callId: string;
  name: string;
  /** On a `tool_result`: the call failed or was refused. */
  isError?: boolean;
}

/** Fields an entry carries besides its text. */
export interface EntryFields {
  role: EntryRole;
  text: string;
  runId?: string;
  /** On `tool_call` and `tool_result` entries. */
  tool?: EntryTool;
  /** On `compaction` entries: the id of the newest entry the summary replaces. */
  covers?: number;
}

/** One transcript entry, whole (the store joins entries it had to split). */
export interface TranscriptEntry extends EntryFields {
  /** Monotonic id; orders the transcript. */
  id: number;
  ts: number;
}

/** An accepted message, as recorded before it is acknowledged. */
export interface InboundMessage {
  runId: string;
  sessionKey: string;
  text: string;
  queueMode: QueueMode;
  acceptedAt: number;
  idempotencyKey?: string;
  /** Who sent it, for logs: `ws:<connId>`, `cli`, `telegram:<user>`, … */
  source: string;
  /** Where the answer goes, for messages from a chat channel (WS clients get events instead). */
  reply?: ReplyTarget;
  /** The run's own model, used strictly (a scheduled job's `model`). */
  model?: string;
  /** The run's own tool allowlist, within the policy (a scheduled job's `tools`). */
  tools?: string[];
}

/** An entry of the ingress log: accepted and not yet finished. */
export interface IngressRecord extends InboundMessage {
  /** Orders recovery the way messages were accepted. */
  seq: number;
  status: "queued" | "running";
}

/** The outcome of {@linkcode SessionStore.admit}. */
export type AdmitResult =
  | { admitted: true; createdSession: boolean }
  | { admitted: false; runId: string };

/** A transcript entry to write. */
export type NewEntry = EntryFields;

/** Fields `sessions.patch` may change; `null` clears. */
export interface SessionPatch {
  label?: string | null;
  model?: string | null;
  route?: DeliveryRoute | null;
}

/** Durable state of sessions. Related writes happen in one atomic commit. */
export interface SessionStore {
  /**
   * Records an accepted message: the idempotency record, the ingress entry and (if new) the session,
   * all in one commit. A live idempotency key (scoped to the session) returns the first run id and
   * records nothing.
   */
  admit(message: InboundMessage): Promise<AdmitResult>;
  /** The run id recorded for a session's idempotency key, if still retained. */
  lookupIdempotency(sessionKey: string, idempotencyKey: string): Promise<string | undefined>;
  /** Every ingress entry not yet finished, in acceptance order. */
  pendingIngress(): Promise<IngressRecord[]>;
  /**
   * Writes the messages of a turn to the transcript and marks their ingress entries running.
   * Returns the session as it was read for the commit (undefined when it no longer exists).
   */
  beginTurn(sessionKey: string, messages: InboundMessage[]): Promise<SessionMeta | undefined>;
  /** Appends entries during a turn (an assistant reply before steered input, a note). */
  append(sessionKey: string, entries: NewEntry[]): Promise<void>;
  /**
   * Writes the final entries, clears the turn's ingress entries, adds token usage and queues the
   * answers for chat channels in the outbox, in one commit: an answer is never lost between the
   * end of its turn and its delivery, and a finished turn is never answered twice.
   */
  finishTurn(
    sessionKey: string,
    turn: {
      runIds: string[];
      entries: NewEntry[];
      usage?: { inputTokens: number; outputTokens: number };
      outbox?: OutboxInput[];
    },
  ): Promise<void>;
  /** Newest entries, returned oldest first; stops at `limit` entries or `maxChars` of text. */
  readTranscript(
    sessionKey: string,
    options?: { limit?: number; maxChars?: number },
  ): Promise<TranscriptEntry[]>;
  getSession(sessionKey: string): Promise<SessionMeta | undefined>;
  /** All sessions, most recently updated first. */
  listSessions(options?: { limit?: number }): Promise<SessionMeta[]>;
  /** Changes a session's label/model/route; creates the session when `create` is set. */
  patchSession(
    sessionKey: string,
    patch: SessionPatch,
    options?: { create?: boolean },
  ): Promise<SessionMeta | undefined>;
  /** Clears the transcript and token counters, keeps label, model and route. */
  resetSession(sessionKey: string): Promise<boolean>;
  /** Removes the session, its transcript and its pending ingress entries. */
  deleteSession(sessionKey: string): Promise<boolean>;
}
