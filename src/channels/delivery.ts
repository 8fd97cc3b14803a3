/**
 * The delivery worker: drains the outbox to the channel adapters. Messages to one destination
 * (channel, chat, thread) go strictly in order, chunk by chunk, each marked when delivered; a
 * failure that may pass (rate limit, network) is retried after the wait the platform asked for or
 * a jittered backoff, and holds back that destination only; a permanent failure drops the message
 * with one log line.
 */
import {
  type ChannelAdapter,
  ChannelSendError,
  type Clock,
  type Logger,
  type Outbox,
  type OutboxEntry,
  Tally,
  type TimerId,
} from "../kernel/mod.ts";

/** Options of {@linkcode DeliveryWorker}. */
export interface DeliveryWorkerOptions {
  outbox: Outbox;
  adapters: ReadonlyMap<string, ChannelAdapter>;
  clock: Clock;
  logger: Logger;
  /** Longest backoff between attempts. @default 60_000 */
  maxBackoffMs?: number;
  /** Random in [0, 1); injectable for tests. @default Math.random */
  random?: () => number;
}

const BASE_BACKOFF_MS = 1_000;

/** Sends what the outbox holds; one per gateway. */
export class DeliveryWorker {
  /**
   * Outbox messages by channel and result (`/metrics`): `sent` once all its chunks are delivered,
   * `retry` for each failed attempt that will be retried, `dropped` when it is given up.
   */
  readonly deliveries = new Tally(["channel", "result"] as const);
  #o: DeliveryWorkerOptions;
  #running = false;
  #stopping = new AbortController();
  #timer: TimerId | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #dirty = false;

  constructor(options: DeliveryWorkerOptions) {
    this.#o = options;
  }

  /** Starts draining (what is already queued first: a restart resumes where it stopped). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Something was queued: look now rather than at the next timer. */
  kick(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  /** Stops after the send in flight (aborting it); what is left stays queued. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#stopping.abort();
    this.kick();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      this.#dirty = false;
      let next = Infinity;
      try {
        next = await this.#pass();
      } catch (err) {
        this.#o.logger.error("outbox pass failed", { error: String(err) });
        next = this.#o.clock.now() + BASE_BACKOFF_MS;
      }
      if (!this.#running) break;
      if (this.#dirty) continue;
      await this.#sleepUntil(next);
    }
  }

  /** Sends what is due; returns when the next held-back message becomes due (Infinity: none). */
  async #pass(): Promise<number> {
    const { clock } = this.#o;
    const entries = await this.#o.outbox.pending();
    const blocked = new Set<string>();
    let next = Infinity;
    for (const entry of entries) {
      const dest = `${entry.channel}\u0000${entry.to}\u0000${entry.threadId ?? ""}`;
      if (blocked.has(dest)) continue; // an earlier message to this chat is still waiting
      if (entry.notBefore > clock.now()) {
        blocked.add(dest);
        next = Math.min(next, entry.notBefore);
        continue;
      }
      const held = await this.#deliver(entry);
      if (held !== undefined) {
        blocked.add(dest);
        next = Math.min(next, held);
      }
      if (!this.#running) break;
    }
    return next;
  }

  /** Sends the entry's remaining chunks; returns the retry time when it must wait. */
  async #deliver(entry: OutboxEntry): Promise<number | undefined> {
    const { outbox, clock, logger } = this.#o;
    const log = logger.with({
      outbox: entry.id,
      channel: entry.channel,
      ...(entry.runId ? { runId: entry.runId } : {}),
      ...(entry.sessionKey ? { sessionKey: entry.sessionKey } : {}),
    });
    const count = (result: "sent" | "retry" | "dropped") =>
      this.deliveries.add({ channel: entry.channel, result });
    const adapter = this.#o.adapters.get(entry.channel);
    if (!adapter) {
      log.warn("outbox message dropped: its channel is not configured");
      await outbox.drop(entry.id);
      count("dropped");
      return undefined;
    }
    for (let i = entry.sent; i < entry.chunks.length; i++) {
      try {
        await adapter.send({
          to: entry.to,
          ...(entry.threadId ? { threadId: entry.threadId } : {}),
          text: entry.chunks[i],
          index: i,
          ...(entry.runId ? { runId: entry.runId } : {}),
          ...(entry.replyTo && i === 0 ? { replyTo: entry.replyTo } : {}),
        }, this.#stopping.signal);
      } catch (err) {
        if (!this.#running) return undefined;
        if (err instanceof ChannelSendError && err.kind === "permanent") {
          log.warn("outbox message dropped: the channel refused it", {
            chunk: i,
            reason: err.message,
          });
          await outbox.drop(entry.id);
          count("dropped");
          return undefined;
        }
        const retryAfter = err instanceof ChannelSendError ? err.options.retryAfterMs : undefined;
        const wait = retryAfter ?? this.#backoff(entry.attempts);
        const at = clock.now() + wait;
        log.warn("outbox send failed; will retry", {
          chunk: i,
          waitMs: wait,
          reason: err instanceof Error ? err.message : String(err),
        });
        await outbox.retryLater(entry.id, at);
        count("retry");
        return at;
      }
      await outbox.markSent(entry.id, i);
    }
    count("sent");
    return undefined;
  }

  /** Exponential backoff with full jitter, capped. */
  #backoff(attempts: number): number {
    const cap = Math.min(this.#o.maxBackoffMs ?? 60_000, BASE_BACKOFF_MS * 2 ** attempts);
    const random = this.#o.random ?? Math.random;
    return Math.round(cap / 2 + random() * (cap / 2));
  }

  #sleepUntil(at: number): Promise<void> {
    const { clock } = this.#o;
    return new Promise((resolve) => {
      const done = () => {
        if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      if (Number.isFinite(at)) this.#timer = clock.setTimeout(done, Math.max(0, at - clock.now()));
    });
  }
}
