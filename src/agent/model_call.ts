/** One model call of a turn, made through the failover chain and streamed to the run's reporter. */
import type { Logger, ModelRequest, ReasoningBlock, StopReason, ToolCall } from "../kernel/mod.ts";
import type { ChainPlan, Failover } from "../providers/failover.ts";
import type { TurnReporter } from "./reporter.ts";

/** A model's whole answer to one call. */
export interface ModelReply {
  /** The model that answered, `<provider>/<model>`. */
  ref: string;
  text: string;
  toolCalls: ToolCall[];
  reasoning: ReasoningBlock[];
  usage: { inputTokens: number; outputTokens: number };
  stopReason: StopReason;
}

/** What a call needs. */
export interface ModelCallOptions {
  failover: Failover;
  plan: ChainPlan;
  request: Omit<ModelRequest, "model">;
  signal: AbortSignal;
  /** False once the lane gave the run up; the stream is then left alone. */
  isCurrent: () => boolean;
  reporter: TurnReporter;
  /** Stream text to the client (false for compaction summaries). */
  streamText: boolean;
  log: Logger;
}

/**
 * Calls the chain's models in turn until one answers in full. Text a failing model streamed is
 * rolled back with the status event that announces the next attempt. Throws what
 * {@linkcode Failover.run} throws.
 */
export async function callModel(o: ModelCallOptions): Promise<ModelReply> {
  let mark = o.reporter.mark();
  const { value } = await o.failover.run(o.plan, async (choice) => {
    mark = o.reporter.mark();
    const reply: ModelReply = {
      ref: choice.ref,
      text: "",
      toolCalls: [],
      reasoning: [],
      usage: { inputTokens: 0, outputTokens: 0 },
      stopReason: "end",
    };
    for await (
      const ev of choice.provider.stream({ ...o.request, model: choice.model }, o.signal, {
        log: o.log,
      })
    ) {
      if (!o.isCurrent()) break;
      switch (ev.type) {
        case "text":
          reply.text += ev.delta;
          if (o.streamText) o.reporter.delta(ev.delta);
          break;
        case "tool_call":
          reply.toolCalls.push(ev.call);
          break;
        case "reasoning":
          reply.reasoning.push(ev.block);
          break;
        case "usage":
          reply.usage.inputTokens += ev.inputTokens;
          reply.usage.outputTokens += ev.outputTokens;
          break;
        case "done":
          reply.stopReason = ev.stopReason;
          break;
      }
    }
    o.signal.throwIfAborted();
    return reply;
  }, {
    signal: o.signal,
    onFailover: (s) => {
      o.reporter.status({
        kind: "failover",
        attempt: s.attempt,
        model: s.model,
        reason: s.reason,
        detail: s.message,
        ...(s.next ? { next: s.next } : {}),
        ...(s.waitMs ? { waitMs: s.waitMs } : {}),
        ...(s.cooldownMs ? { cooldownMs: s.cooldownMs } : {}),
      }, o.streamText ? mark : undefined);
      o.log.warn(s.next ? "model failed; failing over" : "model failed; no model left to try", {
        model: s.model,
        reason: s.reason,
        attempt: s.attempt,
        next: s.next,
        waitMs: s.waitMs,
        detail: s.message,
      });
    },
  });
  return value;
}
