/** The events the gateway broadcasts to clients; the wire shape is documented in docs/protocol.md. */

import type { ApprovalRequest, ApprovalResolution } from "./approvals.ts";
import type { ErrorShape } from "./errors.ts";

/** Something the user should see while a run is recovering: a model switch or a compaction. */
export interface ChatStatus {
  /** `failover`: a model call failed and another attempt follows (or none, when `next` is absent). */
  kind: "failover" | "compaction";
  /** 1-based count of model calls in this walk of the chain, the failed one included. */
  attempt?: number;
  /** The model that failed (failover). */
  model?: string;
  /** The failure class, e.g. `rate_limit`, `timeout`, `context_overflow`. */
  reason?: string;
  detail?: string;
  /** The model tried next. */
  next?: string;
  /** Wait before the next attempt. */
  waitMs?: number;
  /** How long the failed model is skipped by later turns. */
  cooldownMs?: number;
}

/** `chat` event payload: the user-facing progress of a run. */
export interface ChatEvent {
  runId: string;
  /** Present when one run answers several accepted messages (collect, steer, interrupt). */
  runIds?: string[];
  sessionKey: string;
  state: "delta" | "status" | "final" | "aborted" | "error";
  deltaText?: string;
  /**
   * The reply so far (status) or in full (final). On `status` it replaces what the deltas built,
   * since text streamed by a model that then failed is dropped.
   */
  message?: { role: "assistant"; text: string };
  status?: ChatStatus;
  /**
   * On `final`, `aborted` and `error`: who sent the run's first message (`telegram:<user>`,
   * `ws:<conn>`, `cli`), so the channel it came from can answer it.
   */
  source?: string;
  /** On `final`: the model that answered last and the tokens the run used. */
  model?: string;
  usage?: { inputTokens: number; outputTokens: number };
  error?: ErrorShape;
}

/** `agent` event payload: the run's machinery (lifecycle, assistant stream, tools). */
export interface AgentEvent {
  runId: string;
  runIds?: string[];
  sessionKey: string;
  stream: "lifecycle" | "assistant" | "tool";
  data: Record<string, unknown>;
}

/** Every event name with its payload type. */
export interface GatewayEvents {
  chat: ChatEvent;
  agent: AgentEvent;
  "sessions.changed": {
    sessionKey: string;
    reason: "created" | "updated" | "patched" | "reset" | "deleted";
  };
  tick: { ts: number };
  /** Sent only to clients holding `operator.approvals`. */
  "exec.approval.requested": ApprovalRequest;
  /** Sent only to clients holding `operator.approvals`. */
  "exec.approval.resolved": ApprovalResolution;
  shutdown: { reason: string; restartExpectedMs?: number };
  /** A device that is not paired asked to be. Sent only to clients holding `operator.pairing`. */
  "device.pair.requested": DevicePairRequest;
  /** An operator answered a device pairing request. Sent only to clients holding `operator.pairing`. */
  "device.pair.resolved": {
    requestId: string;
    deviceId: string;
    decision: "approved" | "rejected";
    by: string;
  };
}

/** A pending device pairing request (docs/protocol.md, Devices). */
export interface DevicePairRequest {
  requestId: string;
  deviceId: string;
  /** The raw Ed25519 public key, base64url. */
  publicKey: string;
  /** The scopes the device declared (every operator scope when it declared none). */
  scopes: string[];
  client: { id: string; platform: string; mode: string; displayName?: string };
  /** The peer address it connected from. */
  source: string;
  createdAt: number;
  expiresAt: number;
}

/** Event names clients may receive. */
export type GatewayEventName = keyof GatewayEvents;

/** Publishes events to whoever listens (WebSocket clients, channels). */
export interface EventSink {
  publish<E extends GatewayEventName>(event: E, payload: GatewayEvents[E]): void;
}
