/** The channel contract: how replies and messages leave the gateway for a chat surface. */

/** Where a message goes on a channel. */
export interface ChannelTarget {
  /** The channel's chat or user id (Telegram: the chat id). */
  to: string;
  /** A thread or forum topic inside the chat. */
  threadId?: string;
}

/** Where a message's answer goes: the chat it came from, on its channel. */
export interface ReplyTarget extends ChannelTarget {
  channel: string;
  /** The platform message being answered (shown as a quote where that helps, as in groups). */
  replyTo?: string;
}

/** One chunk to send, as the adapter receives it. */
export interface ChannelSend extends ChannelTarget {
  /** Text in the adapter's own format (already converted and split by whoever queued it). */
  text: string;
  /** The platform message this answers, when it should be shown as a reply. */
  replyTo?: string;
  /** The chunk's position in its message, from 0. */
  index: number;
  /** The run whose answer this is, when it is one (an adapter may turn a live draft into it). */
  runId?: string;
}

/** Why a send failed: `retry` may succeed later (after `retryAfterMs` if given), `permanent` will not. */
export class ChannelSendError extends Error {
  override name = "ChannelSendError";
  constructor(
    readonly kind: "retry" | "permanent",
    message: string,
    readonly options: { retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
  }
}

/** A chat surface the gateway can send to. */
export interface ChannelAdapter {
  /** The channel id in session keys and configs: `telegram`, `webchat`. */
  readonly id: string;
  /** Turns Markdown (as models write it) into the chunks this channel sends, in its own format. */
  render(markdown: string): string[];
  /** Sends one chunk; resolves with the platform's message id, or throws a ChannelSendError. */
  send(message: ChannelSend, signal: AbortSignal): Promise<{ messageId: string }>;
}

/** A message waiting in (or delivered from) the outbox. */
export interface OutboxEntry extends ChannelTarget {
  id: string;
  channel: string;
  /** The chunks, in order; each is sent once, in order, and marked when delivered. */
  chunks: string[];
  /** How many leading chunks are delivered. */
  sent: number;
  replyTo?: string;
  /** The session and run that produced it, for logs and notes. */
  sessionKey?: string;
  runId?: string;
  createdAt: number;
  /** Failed attempts of the next chunk so far. */
  attempts: number;
  /** Epoch ms before which the next attempt must not start. */
  notBefore: number;
}

/** What a caller queues: an outbox entry before any delivery bookkeeping. */
export type OutboxInput = Omit<OutboxEntry, "sent" | "attempts" | "notBefore" | "createdAt">;

/**
 * Answers that go back to the chat a message came from. A turn's answer is built with `entry` and
 * committed together with the end of the turn, so it is never lost between the two; anything else
 * (a command's answer, a notice) is queued with `send`.
 */
export interface Replies {
  /** The outbox entry carrying `markdown` to `target`; undefined when its channel is not served. */
  entry(
    target: ReplyTarget,
    markdown: string,
    ref: { id: string; sessionKey?: string; runId?: string },
  ): OutboxInput | undefined;
  /** Queues an answer now (same `ref.id` twice: queued once). */
  send(
    target: ReplyTarget,
    markdown: string,
    ref: { id: string; sessionKey?: string; runId?: string },
  ): Promise<void>;
  /** Wakes the delivery after entries were committed elsewhere. */
  queued(): void;
  /** Whether a channel is configured to send to. */
  serves(channel: string): boolean;
}

/** The durable queue of outgoing messages. */
export interface Outbox {
  /**
   * Records a message before anything is sent. The same `id` twice records it once (a replayed
   * turn does not queue its reply again).
   */
  enqueue(entry: OutboxInput): Promise<void>;
  /** Messages not fully delivered, oldest first. */
  pending(): Promise<OutboxEntry[]>;
  /** Marks chunk `index` delivered; the message leaves the outbox with its last chunk. */
  markSent(id: string, index: number): Promise<void>;
  /** Records a failed attempt and when to try again. */
  retryLater(id: string, notBefore: number): Promise<void>;
  /** Drops a message that cannot be delivered. */
  drop(id: string): Promise<void>;
}
