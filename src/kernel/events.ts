/** The events the gateway broadcasts to clients; the wire shape is documented in docs/protocol.md. */

import type { ErrorShape } from "./errors.ts";

/** `chat` event payload: the user-facing progress of a run. */
export interface ChatEvent {
  runId: string;
  /** Present when one run answers several accepted messages (collect, steer, interrupt). */
  runIds?: string[];
  sessionKey: string;
  state: "delta" | "final" | "aborted" | "error";
  deltaText?: string;
  message?: { role: "assistant"; text: string };
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
  shutdown: { reason: string; restartExpectedMs?: number };
}

/** Event names clients may receive. */
export type GatewayEventName = keyof GatewayEvents;

/** Publishes events to whoever listens (WebSocket clients, channels). */
export interface EventSink {
  publish<E extends GatewayEventName>(event: E, payload: GatewayEvents[E]): void;
}
