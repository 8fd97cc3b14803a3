/** One agent turn: transcript in, provider stream out as events, transcript written as it goes. */
import {
  type ChatMessage,
  type EventSink,
  GatehouseError,
  type InboundMessage,
  type Logger,
  type Provider,
  ProviderError,
  type SessionStore,
  toErrorShape,
} from "../kernel/mod.ts";
import type { LaneItem, RunContext } from "../lanes/mod.ts";
import { CHARS_PER_TOKEN, toModelMessages } from "./context.ts";

/** Finds the provider for a `<provider>/<model>` reference. */
export interface ModelResolver {
  resolve(
    ref: string,
  ): { ok: true; provider: Provider; model: string } | { ok: false; reason: string };
}

/** What a turn needs. */
export interface TurnDeps {
  store: SessionStore;
  events: EventSink;
  models: ModelResolver;
  logger: Logger;
  settings: {
    /** `agent.model`; undefined when none is configured. */
    model?: string;
    systemPrompt: string;
    contextTokens: number;
    maxOutputTokens?: number;
    /** Named in the "no model" error so the user knows which file to edit. */
    configPath: string;
  };
}

/** Runs one batch of accepted messages as a turn. Never throws: failures end as `chat` error events. */
export async function runTurn(
  deps: TurnDeps,
  batch: LaneItem<InboundMessage>[],
  ctx: RunContext<InboundMessage>,
): Promise<void> {
  const { store, events, settings } = deps;
  const sessionKey = ctx.key;
  const messages = batch.map((i) => i.payload);
  const runIds = messages.map((m) => m.runId);
  const runId = runIds[0];
  const ids = () => (runIds.length > 1 ? { runId, runIds: [...runIds] } : { runId });
  const log = deps.logger.with({ runId, sessionKey });
  const started = performance.now();
  /** The current model call's reply (one transcript entry). */
  let text = "";
  /** Everything the client saw streamed in this run; segments after a steer are set apart. */
  let shown = "";
  let separate = false;
  let usage = { inputTokens: 0, outputTokens: 0 };
  let modelRef: string | undefined;

  try {
    const meta = await store.beginTurn(sessionKey, messages);
    events.publish("agent", {
      ...ids(),
      sessionKey,
      stream: "lifecycle",
      data: { phase: "start" },
    });
    modelRef = meta?.model ?? settings.model;
    if (!modelRef) {
      throw new GatehouseError(
        "NO_MODEL",
        `no model is configured: add a [providers.openai] section (kind = "openai", base_url, ` +
          `api_key_env) and agent.model = "openai/<model>" to ${settings.configPath}, then restart`,
      );
    }
    const resolved = deps.models.resolve(modelRef);
    if (!resolved.ok) throw new GatehouseError("NO_MODEL", resolved.reason);
    log.debug("turn started", { model: modelRef, messages: messages.length });

    while (true) {
      const context = await store.readTranscript(sessionKey, {
        maxChars: settings.contextTokens * CHARS_PER_TOKEN,
      });
      text = "";
      const got = await streamReply(
        resolved.provider,
        {
          model: resolved.model,
          system: settings.systemPrompt,
          messages: toModelMessages(context),
          maxTokens: settings.maxOutputTokens,
        },
        ctx,
        (delta) => {
          text += delta;
          const streamed = separate ? `\n\n${delta}` : delta;
          separate = false;
          shown += streamed;
          events.publish("chat", { ...ids(), sessionKey, state: "delta", deltaText: streamed });
          events.publish("agent", {
            ...ids(),
            sessionKey,
            stream: "assistant",
            data: { delta: streamed },
          });
        },
      );
      if (!ctx.current) return;
      usage = {
        inputTokens: usage.inputTokens + got.inputTokens,
        outputTokens: usage.outputTokens + got.outputTokens,
      };
      // Steering: messages that arrived during the call join this run at the model boundary.
      const steered = ctx.takeSteered().map((i) => i.payload);
      if (steered.length === 0) break;
      await store.append(sessionKey, [{ role: "assistant", text, runId }]);
      await store.beginTurn(sessionKey, steered);
      separate = shown !== "";
      runIds.push(...steered.map((m) => m.runId));
      events.publish("agent", {
        ...ids(),
        sessionKey,
        stream: "lifecycle",
        data: { phase: "steered", steeredRunIds: steered.map((m) => m.runId) },
      });
    }

    await store.finishTurn(sessionKey, {
      runIds,
      entries: [{ role: "assistant", text, runId }],
      usage,
    });
    events.publish("chat", {
      ...ids(),
      sessionKey,
      state: "final",
      message: { role: "assistant", text: shown },
    });
    events.publish("agent", { ...ids(), sessionKey, stream: "lifecycle", data: { phase: "end" } });
    events.publish("sessions.changed", { sessionKey, reason: "updated" });
    log.info("turn finished", {
      model: modelRef,
      ms: Math.round(performance.now() - started),
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
    });
  } catch (err) {
    if (!ctx.current) return;
    const failure = describeFailure(err, ctx.signal, modelRef);
    if (failure.code === "INTERNAL") log.error("turn failed", { error: String(err) });
    else log.warn("turn ended early", { code: failure.code, reason: failure.message });
    const entries = [];
    if (text) entries.push({ role: "assistant" as const, text, runId });
    entries.push({
      role: "note" as const,
      text: `[turn ${failure.verb}: ${failure.message}]`,
      runId,
    });
    try {
      await store.finishTurn(sessionKey, { runIds, entries, usage });
    } catch (writeErr) {
      log.error("could not record the failed turn", { error: String(writeErr) });
    }
    const error = toErrorShape(failure.error);
    events.publish("chat", {
      ...ids(),
      sessionKey,
      state: failure.code === "ABORTED" ? "aborted" : "error",
      ...(shown ? { message: { role: "assistant" as const, text: shown } } : {}),
      error,
    });
    events.publish("agent", {
      ...ids(),
      sessionKey,
      stream: "lifecycle",
      data: { phase: "error", error },
    });
    events.publish("sessions.changed", { sessionKey, reason: "updated" });
  }
}

async function streamReply(
  provider: Provider,
  request: { model: string; system: string; messages: ChatMessage[]; maxTokens?: number },
  ctx: RunContext<InboundMessage>,
  onDelta: (delta: string) => void,
): Promise<{ inputTokens: number; outputTokens: number }> {
  let inputTokens = 0;
  let outputTokens = 0;
  for await (const ev of provider.stream(request, ctx.signal)) {
    if (!ctx.current) break;
    if (ev.type === "text") onDelta(ev.delta);
    else if (ev.type === "usage") {
      inputTokens += ev.inputTokens;
      outputTokens += ev.outputTokens;
    }
  }
  ctx.signal.throwIfAborted();
  return { inputTokens, outputTokens };
}

/** Provider failures worth retrying as they are (others need a change first). */
const RETRYABLE = new Set(["rate_limit", "overloaded", "timeout", "network", "server"]);

/** Names what ended a turn, as a user-facing error. */
function describeFailure(
  err: unknown,
  signal: AbortSignal,
  modelRef: string | undefined,
): { code: string; verb: string; message: string; error: unknown } {
  if (signal.aborted) {
    const reason = signal.reason instanceof GatehouseError
      ? signal.reason
      : new GatehouseError("ABORTED", "aborted");
    const verb = reason.code === "TIMEOUT" ? "timed out" : "stopped";
    return { code: reason.code, verb, message: reason.message, error: reason };
  }
  if (err instanceof GatehouseError) {
    return { code: err.code, verb: "failed", message: err.message, error: err };
  }
  if (err instanceof ProviderError) {
    const e = new GatehouseError(
      "PROVIDER_ERROR",
      `model ${modelRef} failed (${err.kind}): ${err.message}`,
      {
        details: { kind: err.kind, status: err.options.status },
        retryable: RETRYABLE.has(err.kind),
        retryAfterMs: err.options.retryAfterMs,
      },
    );
    return { code: e.code, verb: "failed", message: e.message, error: e };
  }
  return {
    code: "INTERNAL",
    verb: "failed",
    message: "internal error (see the gateway log)",
    error: err,
  };
}
