/** What a run tells its subscribers: `chat` events (what the user sees) and `agent` events (how it ran). */
import type { ChatStatus, ErrorShape, EventSink } from "../kernel/mod.ts";

/** Publishes one run's events and keeps the reply text the client has been shown. */
export class TurnReporter {
  /** Everything streamed to the client in this run; segments are set apart by a blank line. */
  shown = "";
  readonly runIds: string[];
  #events: EventSink;
  #sessionKey: string;
  #separate = false;

  #source: string | undefined;

  constructor(events: EventSink, sessionKey: string, runIds: string[], source?: string) {
    this.#events = events;
    this.#sessionKey = sessionKey;
    this.runIds = runIds;
    this.#source = source;
  }

  /** The run's ids as every event carries them. */
  ids(): { runId: string; runIds?: string[]; sessionKey: string } {
    const runId = this.runIds[0];
    return this.runIds.length > 1
      ? { runId, runIds: [...this.runIds], sessionKey: this.#sessionKey }
      : { runId, sessionKey: this.#sessionKey };
  }

  /** Streams a piece of the reply. */
  delta(text: string): void {
    const streamed = this.#separate && this.shown !== "" ? `\n\n${text}` : text;
    this.#separate = false;
    this.shown += streamed;
    this.#events.publish("chat", { ...this.ids(), state: "delta", deltaText: streamed });
    this.#events.publish("agent", {
      ...this.ids(),
      stream: "assistant",
      data: { delta: streamed },
    });
  }

  /** The next delta starts a new paragraph (after tool calls or steered input). */
  boundary(): void {
    this.#separate = true;
  }

  /** A point to roll back to if the model call that follows fails. */
  mark(): { length: number; separate: boolean } {
    return { length: this.shown.length, separate: this.#separate };
  }

  /** Drops what was streamed since `mark`, and says so with a status event carrying the text kept. */
  status(status: ChatStatus, rollback?: { length: number; separate: boolean }): void {
    if (rollback) {
      this.shown = this.shown.slice(0, rollback.length);
      this.#separate = rollback.separate;
    }
    this.#events.publish("chat", {
      ...this.ids(),
      state: "status",
      status,
      message: { role: "assistant", text: this.shown },
    });
  }

  lifecycle(phase: string, data: Record<string, unknown> = {}): void {
    this.#events.publish("agent", { ...this.ids(), stream: "lifecycle", data: { phase, ...data } });
  }

  tool(data: Record<string, unknown>): void {
    this.#events.publish("agent", { ...this.ids(), stream: "tool", data });
  }

  /** The run ended with an answer. */
  final(extra: { model?: string; usage: { inputTokens: number; outputTokens: number } }): void {
    this.#events.publish("chat", {
      ...this.ids(),
      state: "final",
      message: { role: "assistant", text: this.shown },
      ...(this.#source ? { source: this.#source } : {}),
      ...(extra.model ? { model: extra.model } : {}),
      usage: extra.usage,
    });
    this.lifecycle("end");
    this.#changed();
  }

  /** The run ended without an answer (stopped or failed). */
  failed(state: "aborted" | "error", error: ErrorShape): void {
    this.#events.publish("chat", {
      ...this.ids(),
      state,
      ...(this.#source ? { source: this.#source } : {}),
      ...(this.shown ? { message: { role: "assistant" as const, text: this.shown } } : {}),
      error,
    });
    this.lifecycle("error", { error });
    this.#changed();
  }

  #changed(): void {
    this.#events.publish("sessions.changed", { sessionKey: this.#sessionKey, reason: "updated" });
  }
}
