/**
 * Answers Telegram's runs: when a run whose first message came from Telegram ends, its reply (or
 * what went wrong) is queued in the outbox under `telegram:reply:<runId>`, so it is sent once,
 * in order, even across a restart of the delivery.
 */
import type { ChatEvent, Logger, Outbox } from "../../kernel/mod.ts";

/** What answering needs. */
export interface ReplyDeps {
  outbox: Outbox;
  kick: () => void;
  render: (markdown: string) => string[];
  logger: Logger;
}

/** The private chat a run came from (`telegram:<user id>`; a private chat's id is the user's). */
export function telegramChatOf(source: string | undefined): string | undefined {
  const m = /^telegram:(\d+)$/.exec(source ?? "");
  return m?.[1];
}

/** Queues the reply to a finished run, if it came from Telegram. */
export async function answerRun(event: ChatEvent, deps: ReplyDeps): Promise<void> {
  if (event.state === "delta" || event.state === "status") return;
  const chat = telegramChatOf(event.source);
  if (!chat) return;
  const text = event.state === "final"
    ? event.message?.text || "(no answer)"
    : [event.message?.text, `⚠️ ${event.error?.message ?? "the turn ended early"}`]
      .filter(Boolean).join("\n\n");
  await deps.outbox.enqueue({
    id: `telegram:reply:${event.runId}`,
    channel: "telegram",
    to: chat,
    chunks: deps.render(text),
    sessionKey: event.sessionKey,
    runId: event.runId,
  });
  deps.kick();
}
