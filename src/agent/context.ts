/** Context assembly: transcript entries within a budget, turned into provider-neutral model messages. */
import type { ModelMessage, ToolResult, TranscriptEntry } from "../kernel/mod.ts";

/** Characters per token used for budgets; a deliberate over-estimate of text density. */
export const CHARS_PER_TOKEN = 4;

/** What a model call is built from: a summary of compacted history (for the system prompt) and messages. */
export interface ModelContext {
  /** The latest compaction summary, when the context reaches one. */
  summary?: string;
  messages: ModelMessage[];
}

/** Result content given to a call whose result never got written (the turn was cut short). */
export const MISSING_RESULT = "[no result: the turn ended before this tool finished]";

/**
 * Model messages from transcript entries (oldest first). Notes are never shown to the model;
 * entries a compaction covers are replaced by its summary; tool calls join the assistant entry
 * before them and their results follow as one tool message. The result always satisfies both
 * providers: it opens with the user, every call has exactly one result right after it, and no
 * result lacks its call.
 */
export function toModelContext(entries: TranscriptEntry[]): ModelContext {
  let from = 0;
  let summary: string | undefined;
  for (let i = entries.length - 1; i >= 0; i--) {
    if (entries[i].role === "compaction") {
      summary = entries[i].text;
      const covers = entries[i].covers ?? entries[i].id;
      from = entries.findIndex((e) => e.id > covers);
      if (from < 0) from = entries.length;
      break;
    }
  }

  const raw: ModelMessage[] = [];
  for (let i = from; i < entries.length; i++) {
    const e = entries[i];
    const last = raw[raw.length - 1];
    switch (e.role) {
      case "user":
        if (e.text !== "") raw.push({ role: "user", text: e.text });
        break;
      case "assistant":
        raw.push({ role: "assistant", text: e.text });
        break;
      case "tool_call": {
        if (!e.tool) break;
        const call = { id: e.tool.callId, name: e.tool.name, arguments: e.text };
        if (last?.role === "assistant") (last.toolCalls ??= []).push(call);
        else raw.push({ role: "assistant", text: "", toolCalls: [call] });
        break;
      }
      case "tool_result": {
        if (!e.tool) break;
        const result: ToolResult = {
          callId: e.tool.callId,
          name: e.tool.name,
          content: e.text,
          isError: e.tool.isError ?? false,
        };
        if (last?.role === "tool") last.results.push(result);
        else raw.push({ role: "tool", results: [result] });
        break;
      }
        // note and compaction entries are not model input
    }
  }
  return summary === undefined
    ? { messages: pairTools(raw) }
    : { summary, messages: pairTools(raw) };
}

/**
 * Pairs calls with results: each assistant message with calls is followed by exactly one tool
 * message answering every call in order (missing ones get {@linkcode MISSING_RESULT}); results
 * with no call before them are dropped; empty assistant messages go; it opens with the user.
 */
function pairTools(raw: ModelMessage[]): ModelMessage[] {
  const out: ModelMessage[] = [];
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i];
    if (m.role === "tool") continue; // consumed by the assistant message before it, or orphaned
    if (m.role === "user") {
      out.push(m);
      continue;
    }
    if (out.length === 0) continue; // the context opens with the user
    if (!m.toolCalls?.length) {
      if (m.text !== "") out.push({ role: "assistant", text: m.text });
      continue;
    }
    const next = raw[i + 1];
    const given = next?.role === "tool" ? next.results : [];
    out.push({ role: "assistant", text: m.text, toolCalls: m.toolCalls });
    out.push({
      role: "tool",
      results: m.toolCalls.map((c) =>
        given.find((r) => r.callId === c.id) ??
          { callId: c.id, name: c.name, content: MISSING_RESULT, isError: true }
      ),
    });
  }
  return out;
}

/** Characters of text a context holds (what the budget counts). */
export function contextChars(messages: ModelMessage[]): number {
  let n = 0;
  for (const m of messages) {
    if (m.role === "tool") { for (const r of m.results) n += r.content.length; }
    else {
      n += m.text.length;
      if (m.role === "assistant") { for (const c of m.toolCalls ?? []) n += c.arguments.length; }
    }
  }
  return n;
}
