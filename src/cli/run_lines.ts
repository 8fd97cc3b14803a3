/** One-line renderings of a run's status and tool events, for the terminal commands. */

/** `[openai/gpt-4.1 failed (rate_limit); trying anthropic/claude-sonnet-4-5]` and the like. */
export function statusLine(s: Record<string, unknown>): string {
  if (s.kind === "compaction") {
    return "[context too long for the model: summarising older messages]";
  }
  const wait = typeof s.waitMs === "number" ? ` in ${Math.ceil(s.waitMs / 1000)}s` : "";
  const next = s.next ? `; trying ${s.next}${wait}` : "; no model left to try";
  return `[${s.model} failed (${s.reason})${next}]`;
}

/** `[tool time_now {"timezone":"UTC"}]` when a call starts, `[tool time_now: error …]` when it fails. */
export function toolLine(d: Record<string, unknown>): string | undefined {
  if (d.phase === "start") {
    const args = typeof d.args === "string" ? d.args : JSON.stringify(d.args ?? {});
    return `[tool ${d.name} ${args.length > 120 ? args.slice(0, 119) + "…" : args}]`;
  }
  if (d.phase === "result" && d.isError) return `[tool ${d.name}: error: ${d.summary}]`;
  return undefined;
}
