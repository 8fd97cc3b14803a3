/**
 * One agent turn: the transcript in, model calls through the failover chain, tool rounds, steered
 * input at model boundaries, compaction on overflow; every step written to the transcript and
 * streamed as events. Never throws: failures end as `chat` error events.
 */
import {
  type Clock,
  type EventSink,
  GatehouseError,
  type InboundMessage,
  type Logger,
  type ModelMessage,
  type NewEntry,
  ProviderError,
  type Replies,
  type SessionStore,
  toErrorShape,
  type ToolCall,
} from "../kernel/mod.ts";
import type { LaneItem, RunContext } from "../lanes/mod.ts";
import type { ChainPlan, Failover } from "../providers/failover.ts";
import { originOf, type ToolRunner } from "../tools/mod.ts";
import { answerEntries } from "./answers.ts";
import { compactionEntry, planCompaction } from "./compaction.ts";
import { CHARS_PER_TOKEN, type ModelContext, toModelContext } from "./context.ts";
import { callModel, type ModelReply } from "./model_call.ts";
import { TurnReporter } from "./reporter.ts";
import { runToolRound } from "./tool_round.ts";

/** The agent settings a turn follows (from `[agent]`). */
export interface TurnSettings {
  /** `agent.model`; undefined when none is configured. */
  model?: string;
  fallbacks: string[];
  systemPrompt: string;
  contextTokens: number;
  maxOutputTokens?: number;
  thinkingTokens: number;
  maxToolIterations: number;
  /** Named in the "no model" error so the user knows which file to edit. */
  configPath: string;
}

/** What a turn needs. */
export interface TurnDeps {
  store: SessionStore;
  events: EventSink;
  failover: Failover;
  tools: ToolRunner;
  logger: Logger;
  clock: Clock;
  settings: TurnSettings;
  /** Answers to chat channels, queued with the end of each turn; none for WS-only gateways. */
  replies?: Replies;
}

/** Output cap of the summarising call of a compaction. */
const SUMMARY_MAX_TOKENS = 2_048;

/** Runs one batch of accepted messages as a turn. */
export async function runTurn(
  deps: TurnDeps,
  batch: LaneItem<InboundMessage>[],
  ctx: RunContext<InboundMessage>,
): Promise<void> {
  const { store, settings } = deps;
  const sessionKey = ctx.key;
  const messages = batch.map((i) => i.payload);
  const reporter = new TurnReporter(
    deps.events,
    sessionKey,
    messages.map((m) => m.runId),
    messages[0].source,
  );
  const runId = reporter.runIds[0];
  const log = deps.logger.with({ runId, sessionKey });
  const started = performance.now();
  const usage = { inputTokens: 0, outputTokens: 0 };
  const addUsage = (u: ModelReply["usage"]) => {
    usage.inputTokens += u.inputTokens;
    usage.outputTokens += u.outputTokens;
  };
  const budgetChars = settings.contextTokens * CHARS_PER_TOKEN;
  /** Where the reply of the model call in progress starts in `reporter.shown`. */
  let callStart = 0;
  /** The final entries: the last reply, and a note when the turn was cut short. */
  const closing: NewEntry[] = [];
  let answeredBy: string | undefined;

  try {
    const meta = await store.beginTurn(sessionKey, messages);
    // Chat channels follow their runs from here (typing, drafts), replayed ones included.
    const replyTo = messages.find((m) => m.reply)?.reply;
    reporter.lifecycle("start", replyTo ? { reply: replyTo } : {});
    // A run's own model (a scheduled job's) is strict, like a session's.
    const plan = deps.failover.plan(
      messages[0].model ?? meta?.model,
      settings.model,
      settings.fallbacks,
    );
    if (plan.refs.length === 0) {
      throw new GatehouseError(
        "NO_MODEL",
        `no model is configured: add a [providers.openai] section (kind = "openai", base_url, ` +
          `api_key_env) and agent.model = "openai/<model>" to ${settings.configPath}, then restart`,
      );
    }
    log.debug("turn started", {
      models: plan.refs,
      strict: plan.strict,
      messages: messages.length,
    });
    const readContext = async () =>
      toModelContext(await store.readTranscript(sessionKey, { maxChars: budgetChars }));
    let context = await readContext();
    // What the conversation may use is decided once per turn, by who sent its first message.
    const origin = originOf(sessionKey, messages[0].source);
    const only = messages[0].tools ? new Set(messages[0].tools) : undefined;
    const toolSpecs = await deps.tools.specs(origin, only);
    let compacted = false;
    let rounds = 0;

    /** Steered messages join the run here, at a model boundary. */
    const joinSteered = async (steered: InboundMessage[]): Promise<void> => {
      if (steered.length === 0) return;
      await store.beginTurn(sessionKey, steered);
      reporter.runIds.push(...steered.map((m) => m.runId));
      messages.push(...steered);
      for (const m of steered) context.messages.push({ role: "user", text: m.text });
      reporter.boundary();
      reporter.lifecycle("steered", { steeredRunIds: steered.map((m) => m.runId) });
    };

    while (true) {
      callStart = reporter.shown.length;
      const mark = reporter.mark();
      let reply: ModelReply;
      try {
        reply = await callModel({
          failover: deps.failover,
          plan,
          request: {
            system: systemPrompt(settings.systemPrompt, context),
            messages: context.messages,
            tools: toolSpecs,
            maxTokens: settings.maxOutputTokens,
            thinkingTokens: settings.thinkingTokens,
          },
          signal: ctx.signal,
          isCurrent: () => ctx.current,
          reporter,
          streamText: true,
          log,
        });
      } catch (err) {
        if (!(err instanceof ProviderError && err.kind === "context_overflow")) throw err;
        if (compacted) throw stillTooLong(err);
        await compact(plan, mark);
        compacted = true;
        context = await readContext();
        continue;
      }
      if (!ctx.current) return;
      addUsage(reply.usage);
      answeredBy = reply.ref;

      if (reply.toolCalls.length > 0) {
        if (rounds >= settings.maxToolIterations) {
          closing.push({ role: "assistant", text: reply.text, runId });
          stopNote(
            `[stopped: the model asked for more than ${settings.maxToolIterations} rounds of tool ` +
              `calls in one turn; raise agent.max_tool_iterations to allow more]`,
          );
          break;
        }
        rounds++;
        const calls = withUniqueIds(reply.toolCalls, context.messages, runId, rounds);
        await store.append(sessionKey, [
          { role: "assistant", text: reply.text, runId },
          ...calls.map((c): NewEntry => ({
            role: "tool_call",
            text: c.arguments,
            runId,
            tool: { callId: c.id, name: c.name },
          })),
        ]);
        callStart = reporter.shown.length;
        context.messages.push({
          role: "assistant",
          text: reply.text,
          toolCalls: calls,
          ...(reply.reasoning.length ? { reasoning: reply.reasoning } : {}),
        });
        const results = await runToolRound(calls, {
          tools: deps.tools,
          origin,
          ...(only ? { only } : {}),
          context: {
            sessionKey,
            runId,
            model: reply.ref,
            signal: ctx.signal,
            ...(replyTo ? { reply: replyTo } : {}),
          },
          reporter,
          now: () => performance.now(),
        });
        ctx.signal.throwIfAborted();
        if (!ctx.current) return;
        await store.append(
          sessionKey,
          results.map((r): NewEntry => ({
            role: "tool_result",
            text: r.content,
            runId,
            tool: { callId: r.callId, name: r.name, ...(r.isError ? { isError: true } : {}) },
          })),
        );
        context.messages.push({ role: "tool", results });
        reporter.boundary();
        await joinSteered(ctx.takeSteered().map((i) => i.payload));
        continue;
      }

      if (reply.stopReason === "max_tokens") {
        closing.push({ role: "assistant", text: reply.text, runId });
        stopNote(
          "[the reply was cut at the output limit; raise agent.max_output_tokens for longer answers]",
        );
        break;
      }
      // Steering: messages that arrived during the call join this run before it ends.
      const steered = ctx.takeSteered().map((i) => i.payload);
      if (steered.length === 0) {
        closing.push({ role: "assistant", text: reply.text, runId });
        break;
      }
      await store.append(sessionKey, [{ role: "assistant", text: reply.text, runId }]);
      context.messages.push({ role: "assistant", text: reply.text });
      await joinSteered(steered);
    }

    const answers = answerEntries(deps.replies, messages, reporter.shown);
    await store.finishTurn(sessionKey, {
      runIds: reporter.runIds,
      entries: closing,
      usage,
      outbox: answers,
    });
    if (answers.length) deps.replies?.queued();
    reporter.final({ model: answeredBy, usage });
    log.info("turn finished", {
      model: answeredBy,
      ms: Math.round(performance.now() - started),
      toolRounds: rounds,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
    });
  } catch (err) {
    if (!ctx.current) return;
    const failure = describeFailure(err, ctx.signal);
    if (failure.code === "INTERNAL") log.error("turn failed", { error: String(err) });
    else log.warn("turn ended early", { code: failure.code, reason: failure.message });
    const partial = reporter.shown.slice(callStart).trim();
    const entries: NewEntry[] = [];
    if (partial) entries.push({ role: "assistant", text: partial, runId });
    entries.push({ role: "note", text: `[turn ${failure.verb}: ${failure.message}]`, runId });
    const told = [reporter.shown.trim(), `⚠️ ${failure.message}`].filter(Boolean).join("\n\n");
    const answers = answerEntries(deps.replies, messages, told);
    try {
      await store.finishTurn(sessionKey, {
        runIds: reporter.runIds,
        entries,
        usage,
        outbox: answers,
      });
      if (answers.length) deps.replies?.queued();
    } catch (writeErr) {
      log.error("could not record the failed turn", { error: String(writeErr) });
    }
    reporter.failed(failure.code === "ABORTED" ? "aborted" : "error", toErrorShape(failure.error));
  }

  /** Ends the reply with a visible note (also kept in the transcript, not shown to the model). */
  function stopNote(text: string): void {
    reporter.boundary();
    reporter.delta(text);
    closing.push({ role: "note", text, runId });
  }

  /** Summarises older entries into a compaction entry, so the retried call fits. */
  async function compact(
    plan: ChainPlan,
    mark: ReturnType<TurnReporter["mark"]>,
  ): Promise<void> {
    const entries = await store.readTranscript(sessionKey, { maxChars: budgetChars });
    const todo = planCompaction(entries, new Set(reporter.runIds));
    if (!todo) {
      throw new GatehouseError(
        "PROVIDER_ERROR",
        "the running turn alone (the new message and its tool results) is longer than the " +
          "model's context: send a shorter message, ask for smaller tool output, or pick a model " +
          "with a larger context window",
        { details: { kind: "context_overflow" } },
      );
    }
    // Text the overflowing call streamed before it failed is dropped; the retry streams anew.
    reporter.status({ kind: "compaction", reason: "context_overflow" }, mark);
    const summary = await callModel({
      failover: deps.failover,
      plan,
      request: { messages: todo.messages, maxTokens: SUMMARY_MAX_TOKENS },
      signal: ctx.signal,
      isCurrent: () => ctx.current,
      reporter,
      streamText: false,
      log,
    }).catch((err) => {
      throw err instanceof ProviderError && err.kind === "context_overflow"
        ? stillTooLong(err)
        : err;
    });
    addUsage(summary.usage);
    if (summary.text.trim() === "") {
      throw new GatehouseError(
        "PROVIDER_ERROR",
        "compaction failed: the model returned an empty summary",
      );
    }
    await store.append(sessionKey, [compactionEntry(todo, summary.text, runId)]);
    log.info("context compacted", {
      model: summary.ref,
      entries: todo.entries,
      covers: todo.covers,
      summaryChars: summary.text.length,
    });
  }
}

/** The system prompt, with the summary of compacted history when there is one. */
function systemPrompt(base: string, context: ModelContext): string {
  if (context.summary === undefined) return base;
  return `${base}\n\nSummary of the earlier conversation (older messages were compacted):\n${context.summary}`;
}

function stillTooLong(err: ProviderError): GatehouseError {
  return new GatehouseError(
    "PROVIDER_ERROR",
    "the conversation does not fit the model's context even after compaction: lower " +
      "agent.context_tokens to what the model accepts, or reset the session",
    { details: { kind: "context_overflow", status: err.options.status } },
  );
}

/**
 * Tool calls with ids that are valid for every provider and unique in the context, so a history
 * that crosses providers never has two calls with one id. The ids go to the transcript as given here.
 */
function withUniqueIds(
  calls: ToolCall[],
  context: ModelMessage[],
  runId: string,
  round: number,
): ToolCall[] {
  const seen = new Set<string>();
  for (const m of context) {
    if (m.role === "assistant") { for (const c of m.toolCalls ?? []) seen.add(c.id); }
  }
  return calls.map((call, i) => {
    let id = call.id;
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(id) || seen.has(id)) {
      id = `call_${runId.replaceAll("-", "").slice(0, 12)}_${round}_${i}`;
    }
    seen.add(id);
    return { ...call, id };
  });
}

/** Provider failures worth retrying as they are (others need a change first). */
const RETRYABLE = new Set(["rate_limit", "overloaded", "timeout", "network", "server"]);

/** Names what ended a turn, as a user-facing error. */
function describeFailure(
  err: unknown,
  signal: AbortSignal,
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
    // A failure the chain did not walk past (bad_request): the request itself was refused.
    const e = new GatehouseError("PROVIDER_ERROR", err.message, {
      details: { kind: err.kind, status: err.options.status },
      retryable: RETRYABLE.has(err.kind),
      retryAfterMs: err.options.retryAfterMs,
    });
    return { code: e.code, verb: "failed", message: e.message, error: e };
  }
  return {
    code: "INTERNAL",
    verb: "failed",
    message: "internal error (see the gateway log)",
    error: err,
  };
}
