/**
 * Compaction: when a model says the conversation no longer fits, older entries are summarised by
 * the model into one `compaction` entry. The originals stay in KV (history and exports still see
 * them); only the model context starts from the summary.
 */
import type { ModelMessage, NewEntry, TranscriptEntry } from "../kernel/mod.ts";

/** Share of the context that overflowed kept verbatim after a compaction (the newest turns). */
const KEEP_SHARE = 0.25;
/** Share of the context that overflowed the summariser is given to read. */
const INPUT_SHARE = 0.5;
/** Longest tool output quoted to the summariser. */
const TOOL_QUOTE_CHARS = 1_000;

/** The instruction for the summarising call. */
export const COMPACTION_PROMPT =
  "You compress conversations. Summarise the conversation below for the assistant that will " +
  "continue it: the user's goals and preferences, facts and decisions established, results of " +
  "tool calls that still matter, and open questions or tasks. Be specific (names, numbers, " +
  "paths) and brief. Write the summary only, as notes, with no preamble.";

/** What to summarise, and what the summary will cover. */
export interface CompactionPlan {
  /** The summarising call's messages (one user message). */
  messages: ModelMessage[];
  /** Id of the newest entry the summary replaces. */
  covers: number;
  /** How many entries it replaces. */
  entries: number;
}

/**
 * Plans a compaction of `entries` (the transcript as the context read it, oldest first): the
 * newest whole user-led turns up to a quarter of the context's size stay verbatim, and so does
 * the running turn, whatever its size; the rest is summarised. Returns undefined when there is
 * nothing older to summarise.
 */
export function planCompaction(
  entries: TranscriptEntry[],
  currentRunIds: ReadonlySet<string>,
): CompactionPlan | undefined {
  const previous = entries.findLast((e) => e.role === "compaction");
  let size = 0;
  for (const e of entries) {
    if (e.role !== "note" && e.id > (previous?.covers ?? -Infinity)) size += e.text.length;
  }
  // The earliest user entry of the running turn: everything from there on is kept.
  let keepFrom = entries.findIndex((e) => e.role === "user" && currentRunIds.has(e.runId ?? ""));
  if (keepFrom < 0) keepFrom = entries.length;
  let kept = 0;
  for (let i = keepFrom; i < entries.length; i++) kept += entries[i].text.length;
  // Earlier whole turns (each starting at a user entry) join while they fit the keep budget.
  for (let i = keepFrom - 1; i >= 0; i--) {
    kept += entries[i].text.length;
    if (kept > size * KEEP_SHARE) break;
    if (entries[i].role === "user") keepFrom = i;
  }
  // A previous summary stands in for what it covers, and opens the text to summarise.
  const older = entries.slice(0, keepFrom).filter((e) =>
    e.role !== "note" && e.role !== "compaction" && e.id > (previous?.covers ?? -Infinity)
  );
  if (older.length === 0) return undefined;

  // The previous summary always opens the text; past the limit the oldest lines after it go
  // (they stay in the transcript, and they are the least likely to matter).
  const head = previous ? render(previous) + "\n" : "";
  const limit = Math.max(1_000, Math.floor(size * INPUT_SHARE)) - head.length;
  let body = older.map(render).join("\n");
  if (body.length > limit) body = "[…earlier part omitted]\n" + body.slice(body.length - limit);
  const text = head + body;
  return {
    messages: [{
      role: "user",
      text: `${COMPACTION_PROMPT}\n\n<conversation>\n${text}\n</conversation>`,
    }],
    covers: entries[keepFrom - 1].id,
    entries: older.length,
  };
}

/** The compaction entry to write for a plan and the summary the model wrote. */
export function compactionEntry(plan: CompactionPlan, summary: string, runId: string): NewEntry {
  return { role: "compaction", text: summary.trim(), covers: plan.covers, runId };
}

function render(e: TranscriptEntry): string {
  switch (e.role) {
    case "user":
      return `User: ${e.text}`;
    case "assistant":
      return `Assistant: ${e.text}`;
    case "tool_call":
      return `[tool call ${e.tool?.name ?? "?"} ${e.text}]`;
    case "tool_result": {
      const body = e.text.length > TOOL_QUOTE_CHARS
        ? e.text.slice(0, TOOL_QUOTE_CHARS) + "…"
        : e.text;
      return `[tool result ${e.tool?.name ?? "?"}${e.tool?.isError ? " (error)" : ""}: ${body}]`;
    }
    case "compaction":
      return `[summary of what came before: ${e.text}]`;
    default:
      return "";
  }
}
