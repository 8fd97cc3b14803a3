/** One round of tool calls: all calls of a model reply run at once; each is reported as it starts and ends. */
import type { ToolCall, ToolContext, ToolResult } from "../kernel/mod.ts";
import type { Origin, ToolRunner } from "../tools/mod.ts";
import type { TurnReporter } from "./reporter.ts";

/** Longest argument text and result text put into a `tool` event. */
const EVENT_ARGS_CHARS = 2_000;
const EVENT_SUMMARY_CHARS = 300;

/** Runs `calls` in parallel; results come back in call order, failures as error results. */
export function runToolRound(
  calls: ToolCall[],
  o: {
    tools: ToolRunner;
    origin: Origin;
    /** The run's own tool allowlist (a scheduled job's), within what the policy allows. */
    only?: ReadonlySet<string>;
    context: Omit<ToolContext, "callId">;
    reporter: TurnReporter;
    now: () => number;
  },
): Promise<ToolResult[]> {
  return Promise.all(calls.map(async (call) => {
    o.reporter.tool({
      phase: "start",
      name: call.name,
      callId: call.id,
      args: eventArgs(call.arguments),
    });
    const started = o.now();
    const result = await o.tools.run(call, o.context, o.origin, o.only);
    o.reporter.tool({
      phase: "result",
      name: call.name,
      callId: call.id,
      isError: result.isError,
      summary: clip(result.content, EVENT_SUMMARY_CHARS),
      chars: result.content.length,
      ms: Math.round(o.now() - started),
    });
    return result;
  }));
}

/** Arguments for an event: the parsed object when it is valid JSON and short, else clipped text. */
function eventArgs(text: string): unknown {
  if (text.length <= EVENT_ARGS_CHARS) {
    try {
      return JSON.parse(text);
    } catch {
      // shown as text below
    }
  }
  return clip(text, EVENT_ARGS_CHARS);
}

function clip(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}
