/** Context assembly: the transcript within a budget, turned into model messages. */
import type { ChatMessage, TranscriptEntry } from "../kernel/mod.ts";

/** Characters per token used for budgets; a deliberate over-estimate of text density. */
export const CHARS_PER_TOKEN = 4;

/**
 * Model messages from transcript entries (oldest first). Gateway notes are not shown to the model,
 * and leading assistant entries are dropped so the context opens with the user.
 */
export function toModelMessages(entries: TranscriptEntry[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const e of entries) {
    if (e.role === "note" || e.text === "") continue;
    if (out.length === 0 && e.role !== "user") continue;
    out.push({ role: e.role, text: e.text });
  }
  return out;
}
