/** `message`: sends a message to a chat on a configured channel, through the durable outbox. */
import { z } from "zod";
import type { ChannelAdapter, Outbox, Tool } from "../../kernel/mod.ts";

const params = z.object({
  channel: z.string().min(1).max(32).describe('The channel, e.g. "telegram"'),
  to: z.string().min(1).max(128).describe("The chat or user id on that channel"),
  text: z.string().min(1).max(20_000).describe("The message, in Markdown"),
  thread_id: z.string().min(1).max(64).optional().describe("A thread or forum topic in the chat"),
}).strict();

/** What the message tool sends through. */
export interface MessageToolDeps {
  outbox: Outbox;
  /** The configured channels by id. */
  adapters: ReadonlyMap<string, ChannelAdapter>;
  /** Wakes the delivery worker. */
  kick: () => void;
}

/** Creates the tool. It queues; the delivery worker sends (in order, retried, once per chunk). */
export function messageTool(deps: MessageToolDeps): Tool<typeof params> {
  return {
    name: "message",
    description:
      "Sends a message to a chat on a channel (for example a Telegram chat id). It is queued and delivered in order; the result says it was queued, not read.",
    params,
    group: "messaging",
    prepare(args) {
      return Promise.resolve({
        summary: `message ${args.channel}:${args.to} (${args.text.length} characters)`,
        args: { channel: args.channel, to: args.to, thread_id: args.thread_id ?? null },
      });
    },
    async run(args, ctx) {
      const adapter = deps.adapters.get(args.channel);
      if (!adapter) {
        const known = [...deps.adapters.keys()];
        throw new Error(
          `no channel "${args.channel}" is configured` +
            (known.length
              ? `; the channels are: ${known.join(", ")}`
              : "; no channel is configured"),
        );
      }
      // One id per tool call: a replayed call queues nothing twice.
      const id = `tool:${ctx.runId}:${ctx.callId}`;
      const chunks = adapter.render(args.text);
      await deps.outbox.enqueue({
        id,
        channel: args.channel,
        to: args.to,
        ...(args.thread_id ? { threadId: args.thread_id } : {}),
        chunks,
        sessionKey: ctx.sessionKey,
        runId: ctx.runId,
      });
      deps.kick();
      return `queued for ${args.channel}:${args.to} (${chunks.length} message${
        chunks.length === 1 ? "" : "s"
      })`;
    },
  };
}
