/**
 * What a batch of messages from chat channels is owed when its turn ends: one answer per chat the
 * messages came from (messages collected into one turn from the same chat get one answer, quoting
 * the last of them), keyed by the first run so a replay never queues it twice.
 */
import type { InboundMessage, OutboxInput, Replies } from "../kernel/mod.ts";

/** The outbox entries that carry `markdown` to every chat in `messages`. */
export function answerEntries(
  replies: Replies | undefined,
  messages: readonly Pick<InboundMessage, "runId" | "sessionKey" | "reply">[],
  markdown: string,
): OutboxInput[] {
  if (!replies) return [];
  const byChat = new Map<
    string,
    { message: (typeof messages)[number]; last: string | undefined }
  >();
  for (const m of messages) {
    if (!m.reply) continue;
    const chat = `${m.reply.channel}\u0000${m.reply.to}\u0000${m.reply.threadId ?? ""}`;
    const first = byChat.get(chat)?.message ?? m;
    byChat.set(chat, { message: first, last: m.reply.replyTo });
  }
  const out: OutboxInput[] = [];
  for (const { message, last } of byChat.values()) {
    const target = { ...message.reply!, ...(last ? { replyTo: last } : {}) };
    const entry = replies.entry(target, markdown, {
      id: `reply:${message.runId}`,
      sessionKey: message.sessionKey,
      runId: message.runId,
    });
    if (entry) out.push(entry);
  }
  return out;
}
