/**
 * Long polling with a durable offset: each update is handled (recorded in KV by the chat service)
 * before the offset past it is stored and confirmed to Telegram by the next getUpdates, so a
 * crash re-delivers at most the update in hand, which its idempotency key then runs once.
 * 409 Conflict (another poller on the token) is one clear error line and a backoff; network
 * errors back off with jitter; nothing here crashes the gateway or floods the log.
 */
import type { Clock, Logger } from "../../kernel/mod.ts";
import { telegramOffsetKey } from "../../store/keys.ts";
import type { Update } from "./update.ts";

/** The Bot API calls the poller makes (a grammY `Api` fits). */
export interface PollApi {
  getUpdates(
    other: { offset?: number; timeout?: number; allowed_updates?: readonly string[] },
    signal?: AbortSignal,
  ): Promise<Update[]>;
}

/** Options of {@linkcode TelegramPoller}. */
export interface TelegramPollerOptions {
  api: PollApi;
  kv: Deno.Kv;
  handle: (update: Update) => Promise<void>;
  clock: Clock;
  logger: Logger;
  timeoutSeconds: number;
  /** Longest backoff. @default 60_000 */
  maxBackoffMs?: number;
}

/** Polls one bot token until stopped. */
export class TelegramPoller {
  #o: TelegramPollerOptions;
  #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** Failures in a row, for the backoff; the kind of the last, so a streak logs once. */
  #failures = 0;
  #lastKind: string | undefined;

  constructor(options: TelegramPollerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** "polling", or what keeps failing: "polling: conflict (409), retrying". */
  state(): string {
    if (!this.#loop) return "starting";
    if (this.#stop.signal.aborted) return "stopped";
    return this.#lastKind ? `polling: ${this.#lastKind}, retrying` : "polling";
  }

  /** Stops polling (the poll in flight is aborted); resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { kv, api, logger } = this.#o;
    let offset = (await kv.get<number>(telegramOffsetKey())).value ?? 0;
    while (!this.#stop.signal.aborted) {
      let updates: Update[];
      try {
        updates = await api.getUpdates({
          offset,
          timeout: this.#o.timeoutSeconds,
          allowed_updates: ["message", "callback_query"],
        }, this.#stop.signal);
      } catch (err) {
        if (this.#stop.signal.aborted) break;
        await this.#failed(err);
        continue;
      }
      if (this.#lastKind) logger.info("telegram: polling again", { after: this.#lastKind });
      this.#failures = 0;
      this.#lastKind = undefined;
      for (const update of updates) {
        if (this.#stop.signal.aborted) break;
        try {
          await this.#o.handle(update);
        } catch (err) {
          // Not recorded: keep the offset, so the update comes again after a pause.
          logger.error("telegram: an update could not be recorded; retrying", {
            update: update.update_id,
            error: String(err),
          });
          await this.#sleep(this.#backoff());
          break;
        }
        offset = update.update_id + 1;
        await kv.set(telegramOffsetKey(), offset);
      }
    }
  }

  /** Logs a failure once per streak of the same kind, then waits. */
  async #failed(err: unknown): Promise<void> {
    const code = (err as { error_code?: number }).error_code;
    const kind = code === 409 ? "conflict" : code === 401 ? "unauthorized" : "network";
    if (kind !== this.#lastKind) {
      const log = this.#o.logger;
      if (kind === "conflict") {
        log.error(
          "telegram: another program is polling this bot token (409 Conflict); stop the other " +
            "instance or use another token. Retrying with backoff; the rest of the gateway runs on",
        );
      } else if (kind === "unauthorized") {
        log.error("telegram: the bot token was refused (401): check the token env var and restart");
      } else {
        log.warn("telegram: polling failed; retrying with backoff", {
          error: err instanceof Error ? err.message : String(err),
        });
      }
      this.#lastKind = kind;
    }
    this.#failures++;
    await this.#sleep(this.#backoff());
  }

  #backoff(): number {
    const cap = Math.min(
      this.#o.maxBackoffMs ?? 60_000,
      1000 * 2 ** Math.min(this.#failures - 1, 10),
    );
    return Math.round(cap / 2 + Math.random() * (cap / 2));
  }

  #sleep(ms: number): Promise<void> {
    const { clock } = this.#o;
    const signal = this.#stop.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clock.clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = clock.setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
