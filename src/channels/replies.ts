/**
 * Answers back to the chat a message came from, over the outbox: the channel's adapter renders the
 * Markdown into its own chunks; the delivery worker sends them in order.
 */
import type { ChannelAdapter, Outbox, OutboxInput, Replies, ReplyTarget } from "../kernel/mod.ts";

/** Replies over the configured channel adapters. */
export class ChannelReplies implements Replies {
  #adapters: ReadonlyMap<string, ChannelAdapter>;
  #outbox: Outbox;
  #kick: () => void;

  constructor(adapters: ReadonlyMap<string, ChannelAdapter>, outbox: Outbox, kick: () => void) {
    this.#adapters = adapters;
    this.#outbox = outbox;
    this.#kick = kick;
  }

  entry(
    target: ReplyTarget,
    markdown: string,
    ref: { id: string; sessionKey?: string; runId?: string },
  ): OutboxInput | undefined {
    const adapter = this.#adapters.get(target.channel);
    if (!adapter) return undefined;
    return {
      id: `${target.channel}:${ref.id}`,
      channel: target.channel,
      to: target.to,
      ...(target.threadId ? { threadId: target.threadId } : {}),
      ...(target.replyTo ? { replyTo: target.replyTo } : {}),
      chunks: adapter.render(markdown.trim() || "(no answer)"),
      ...(ref.sessionKey ? { sessionKey: ref.sessionKey } : {}),
      ...(ref.runId ? { runId: ref.runId } : {}),
    };
  }

  async send(
    target: ReplyTarget,
    markdown: string,
    ref: { id: string; sessionKey?: string; runId?: string },
  ): Promise<void> {
    const entry = this.entry(target, markdown, ref);
    if (!entry) return;
    await this.#outbox.enqueue(entry);
    this.#kick();
  }

  queued(): void {
    this.#kick();
  }

  serves(channel: string): boolean {
    return this.#adapters.has(channel);
  }
}
