/**
 * The ingress path shared by every channel: validate, record durably, acknowledge, and run the
 * turn on the session's lane. Also owns restart recovery and graceful shutdown of turns.
 */
import {
  type Clock,
  type EventSink,
  GatehouseError,
  type InboundMessage,
  type IngressRecord,
  type Logger,
  type QueueMode,
  type Replies,
  type ReplyTarget,
  sessionKeyProblem,
  type SessionStore,
} from "../kernel/mod.ts";
import { type DropReason, type LaneItem, LaneScheduler, type SubmitOutcome } from "../lanes/mod.ts";
import { answerEntries } from "./answers.ts";
import type { CommandHandler } from "./commands.ts";
import { runTurn, type TurnDeps, type TurnSettings } from "./turn.ts";

/** A message offered to the gateway by a channel. */
export interface SendInput {
  sessionKey: string;
  text: string;
  idempotencyKey?: string;
  queueMode?: QueueMode;
  source: string;
  /** Where the answer goes, for messages from a chat channel. */
  reply?: ReplyTarget;
  /** The run's own model (strict) and tool allowlist: scheduled jobs set them. */
  model?: string;
  tools?: string[];
}

/** The acknowledgement of a send. */
export interface SendResult {
  runId: string;
  status: "accepted";
  /** True when the idempotency key was seen before: nothing new was recorded or run. */
  duplicate: boolean;
  /** What the lane did with it (absent for duplicates). */
  lane?: SubmitOutcome;
}

/** Options of {@linkcode ChatService}. */
export interface ChatServiceOptions extends TurnDeps {
  /** Answers chat commands (`/model`) before a message is recorded; none when unset. */
  commands?: CommandHandler;
  lanes: {
    maxConcurrent: number;
    timeoutMs: number;
    queueCap: number;
    debounceMs: number;
    defaultMode: QueueMode;
  };
}

const SNIPPET = 80;
const snippet = (t: string) => JSON.stringify(t.length > SNIPPET ? t.slice(0, SNIPPET) + "…" : t);

/** Accepts messages, runs turns, recovers after a crash. */
export class ChatService {
  readonly lanes: LaneScheduler<InboundMessage>;
  #store: SessionStore;
  #events: EventSink;
  #log: Logger;
  #clock: Clock;
  #defaultMode: QueueMode;
  #commands: CommandHandler | undefined;
  #replies: Replies | undefined;
  #accepting = true;
  /** What each new turn runs with; replaced whole by `configure`, so a running turn keeps its own. */
  #turn: TurnDeps;

  constructor(options: ChatServiceOptions) {
    this.#turn = options;
    this.#store = options.store;
    this.#events = options.events;
    this.#log = options.logger;
    this.#clock = options.clock;
    this.#defaultMode = options.lanes.defaultMode;
    this.#commands = options.commands;
    this.#replies = options.replies;
    this.lanes = new LaneScheduler<InboundMessage>({
      clock: options.clock,
      logger: options.logger,
      maxConcurrent: options.lanes.maxConcurrent,
      timeoutMs: options.lanes.timeoutMs,
      queueCap: options.lanes.queueCap,
      debounceMs: options.lanes.debounceMs,
      run: (batch, ctx) => runTurn(this.#turn, batch, ctx),
      onDrop: (key, item, reason) => this.#dropped(key, item, reason),
      onAbandon: (key, items, reason) => this.#abandoned(key, items, reason),
    });
  }

  /** New agent settings and queue mode for the turns and messages from now on (config reload). */
  configure(update: { settings: TurnSettings; defaultMode: QueueMode }): void {
    this.#turn = { ...this.#turn, settings: update.settings };
    this.#defaultMode = update.defaultMode;
  }

  /** Records the message, then hands it to its lane. Resolves once it is durable. */
  async send(input: SendInput): Promise<SendResult> {
    if (!this.#accepting) {
      throw new GatehouseError("UNAVAILABLE", "the gateway is shutting down; retry after restart", {
        retryable: true,
      });
    }
    const problem = sessionKeyProblem(input.sessionKey);
    if (problem) throw new GatehouseError("INVALID_REQUEST", problem);
    if (input.text.trim() === "") {
      throw new GatehouseError("INVALID_REQUEST", "message is empty: send some text");
    }
    const answer = await this.#commands?.(input.sessionKey, input.text, input.source);
    if (answer !== undefined) {
      // A command: answered now, on no lane, and kept out of the transcript and the model context.
      const runId = crypto.randomUUID();
      this.#events.publish("chat", {
        runId,
        sessionKey: input.sessionKey,
        state: "final",
        message: { role: "assistant", text: answer },
        source: input.source,
      });
      if (input.reply) {
        await this.#replies?.send(input.reply, answer, {
          id: `command:${input.idempotencyKey ?? runId}`,
          sessionKey: input.sessionKey,
          runId,
        });
      }
      return { runId, status: "accepted", duplicate: false };
    }
    const message: InboundMessage = {
      runId: crypto.randomUUID(),
      sessionKey: input.sessionKey,
      text: input.text,
      queueMode: input.queueMode ?? this.#defaultMode,
      acceptedAt: this.#clock.now(),
      source: input.source,
      ...(input.idempotencyKey ? { idempotencyKey: input.idempotencyKey } : {}),
      ...(input.reply ? { reply: input.reply } : {}),
      ...(input.model ? { model: input.model } : {}),
      ...(input.tools ? { tools: input.tools } : {}),
    };
    const admitted = await this.#store.admit(message);
    if (!admitted.admitted) return { runId: admitted.runId, status: "accepted", duplicate: true };
    if (admitted.createdSession) {
      this.#events.publish("sessions.changed", {
        sessionKey: message.sessionKey,
        reason: "created",
      });
    }
    const lane = this.lanes.submit(message.sessionKey, {
      id: message.runId,
      mode: message.queueMode,
      payload: message,
    });
    this.#log.debug("message accepted", {
      runId: message.runId,
      sessionKey: message.sessionKey,
      source: message.source,
      lane,
    });
    return { runId: message.runId, status: "accepted", duplicate: false, lane };
  }

  /** Stops the session's running turn and drops what waits behind it. */
  abort(sessionKey: string): { aborted: boolean; dropped: number } {
    return this.lanes.abort(
      sessionKey,
      new GatehouseError("ABORTED", "stopped by the user (chat.abort)"),
      { clearQueue: true },
    );
  }

  /** Clears a session's transcript after stopping its turn. */
  async reset(sessionKey: string): Promise<boolean> {
    this.abort(sessionKey);
    await this.lanes.whenKeyIdle(sessionKey);
    const ok = await this.#store.resetSession(sessionKey);
    if (ok) this.#events.publish("sessions.changed", { sessionKey, reason: "reset" });
    return ok;
  }

  /** Deletes a session after stopping its turn. */
  async delete(sessionKey: string): Promise<boolean> {
    this.abort(sessionKey);
    await this.lanes.whenKeyIdle(sessionKey);
    const ok = await this.#store.deleteSession(sessionKey);
    if (ok) this.#events.publish("sessions.changed", { sessionKey, reason: "deleted" });
    return ok;
  }

  /**
   * Replays the ingress log after a restart: turns that were running when the process died are
   * marked interrupted with a note (they may have had effects, so they are not re-run blindly);
   * messages still queued run now, in acceptance order.
   */
  async recover(): Promise<{ interrupted: number; replayed: number }> {
    const pending = await this.#store.pendingIngress();
    const running = new Map<string, IngressRecord[]>();
    let replayed = 0;
    for (const rec of pending) {
      if (rec.status === "running") {
        running.set(rec.sessionKey, [...(running.get(rec.sessionKey) ?? []), rec]);
      }
    }
    for (const [sessionKey, records] of running) {
      const runIds = records.map((r) => r.runId);
      const why = "the gateway stopped before this turn finished; send the message again to retry";
      // Each message is told on its own, quoted, so its sender knows which one to send again.
      const outbox = records.flatMap((r) =>
        answerEntries(this.#replies, [r], `⚠️ Not answered: ${snippet(r.text)}: ${why}.`)
      );
      await this.#store.finishTurn(sessionKey, {
        runIds,
        entries: [{ role: "note", runId: runIds[0], text: `[turn interrupted: ${why}]` }],
        outbox,
      });
      this.#log.warn("turn interrupted by restart", { runId: runIds[0], sessionKey });
    }
    if (running.size) this.#replies?.queued();
    for (const rec of pending) {
      if (rec.status !== "queued") continue;
      const { seq: _seq, status: _status, ...message } = rec;
      this.lanes.submit(rec.sessionKey, { id: rec.runId, mode: "followup", payload: message });
      replayed++;
    }
    if (pending.length) {
      this.#log.info("ingress recovered", { interrupted: running.size, replayed });
    }
    return { interrupted: running.size, replayed };
  }

  /** Stops accepting, lets running turns finish within `graceMs`, then aborts the rest. */
  async shutdown(graceMs: number): Promise<{ aborted: number }> {
    this.#accepting = false;
    this.lanes.close();
    const finished = await within(this.lanes.whenIdle(), graceMs, this.#clock);
    if (finished) return { aborted: 0 };
    const aborted = this.lanes.abortAll(
      new GatehouseError(
        "ABORTED",
        "the gateway shut down before the turn finished; send the message again after it restarts",
      ),
    );
    await within(this.lanes.whenIdle(), 5_000, this.#clock);
    return { aborted };
  }

  /** A run the watchdog gave up on still owes its messages an answer: an error and a note. */
  #abandoned(sessionKey: string, items: LaneItem<InboundMessage>[], reason: unknown): void {
    const runIds = items.map((i) => i.payload.runId);
    const error = reason instanceof GatehouseError
      ? reason
      : new GatehouseError("ABORTED", "the turn was stopped");
    const message = `${error.message} (the turn did not stop in time and was abandoned)`;
    this.#store.finishTurn(sessionKey, {
      runIds,
      entries: [{ role: "note", runId: runIds[0], text: `[turn abandoned: ${message}]` }],
      outbox: answerEntries(this.#replies, items.map((i) => i.payload), `⚠️ ${message}`),
    }).then(
      () => this.#replies?.queued(),
      (err) => this.#log.error("could not record an abandoned turn", { error: String(err) }),
    );
    const ids = { runId: runIds[0], ...(runIds.length > 1 ? { runIds } : {}), sessionKey };
    this.#events.publish("chat", {
      ...ids,
      state: error.code === "ABORTED" ? "aborted" : "error",
      source: items[0]?.payload.source,
      error: { code: error.code, message },
    });
    // The run itself will publish nothing more, so its lifecycle ends here.
    this.#events.publish("agent", {
      ...ids,
      stream: "lifecycle",
      data: { phase: "error", abandoned: true, error: { code: error.code, message } },
    });
  }

  #dropped(sessionKey: string, item: LaneItem<InboundMessage>, reason: DropReason): void {
    const m = item.payload;
    const why = reason === "queue_full"
      ? "the session's queue was full (agent.queue.cap), so the oldest waiting message was dropped"
      : "the turn was stopped before this message ran";
    this.#store.finishTurn(sessionKey, {
      runIds: [m.runId],
      entries: [{
        role: "note",
        runId: m.runId,
        text: `[message dropped: ${why}: ${snippet(m.text)}]`,
      }],
      outbox: answerEntries(this.#replies, [m], `⚠️ Message dropped: ${why}: ${snippet(m.text)}`),
    }).then(
      () => this.#replies?.queued(),
      (err) => this.#log.error("could not record a dropped message", { error: String(err) }),
    );
    this.#events.publish("chat", {
      runId: m.runId,
      sessionKey,
      state: reason === "queue_full" ? "error" : "aborted",
      source: m.source,
      error: {
        code: reason === "queue_full" ? "QUEUE_DROPPED" : "ABORTED",
        message: `message dropped: ${why}`,
      },
    });
    this.#log.warn("message dropped", { runId: m.runId, sessionKey, reason });
  }
}

/** Whether `p` settled within `ms`. */
function within(p: Promise<unknown>, ms: number, clock: Clock): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => resolve(false), ms);
    p.then(() => {
      clock.clearTimeout(timer);
      resolve(true);
    });
  });
}
