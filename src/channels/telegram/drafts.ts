/**
 * Live answers in Telegram: while a run from a Telegram chat goes on, the chat shows "typing…"
 * and a draft message holding the text streamed so far plus a compact line per tool call, edited
 * at most once per `intervalMs` (three times that in groups, where Telegram allows 20 messages a
 * minute) and never sooner than a 429's `retry_after`. The draft is plain text: half-written
 * Markdown would make Telegram reject the entities. When the answer is delivered, its first chunk
 * replaces the draft (see `take`), so the chat ends with the answer, not the draft and a copy.
 */
import type { ChatEvent, Clock, Logger, ReplyTarget, TimerId } from "../../kernel/mod.ts";
import { telegramDraftKey } from "../../store/keys.ts";
import type { BotApi } from "./bot_api.ts";

/** The Bot API calls drafts make. */
export type DraftApi = Pick<BotApi, "sendMessage" | "editMessageText" | "sendChatAction">;

/** A draft that exists in a chat. */
export interface DraftRef {
  chat: string;
  messageId: number;
}

/** Options of {@linkcode Drafts}. */
export interface DraftsOptions {
  api: DraftApi;
  kv: Deno.Kv;
  clock: Clock;
  logger: Logger;
  /** Edit drafts at all (`stream`); typing is shown either way. */
  stream: boolean;
  intervalMs: number;
}

/** Telegram's typing indicator lasts about 5 s. */
const TYPING_EVERY_MS = 4_500;
/** A run followed longer than this stops showing typing (the final answer still comes). */
const MAX_FOLLOW_MS = 15 * 60_000;
/** Room for the draft's text (Telegram's limit is 4,096). */
const DRAFT_CHARS = 3_900;
/** Tool lines shown under the text. */
const TOOL_LINES = 6;
/** Drafts are remembered a day in KV, so a restart can still replace one. */
const DRAFT_TTL_MS = 86_400_000;

interface Run {
  target: ReplyTarget;
  started: number;
  text: string;
  tools: Map<string, string>;
  draft?: number;
  lastEdit: number;
  /** The text of the last edit (an unchanged draft is not edited again). */
  shown: string;
  editTimer?: TimerId;
  typingTimer?: TimerId;
  inflight: Promise<void>;
  ended: boolean;
}

/** Follows Telegram runs and keeps their drafts; one per channel. */
export class Drafts {
  #o: DraftsOptions;
  #runs = new Map<string, Run>();
  /** No edits to a chat before this time (after a 429). */
  #holdUntil = new Map<string, number>();

  constructor(options: DraftsOptions) {
    this.#o = options;
  }

  /** A run was accepted for a chat: show typing until it ends. */
  accepted(runId: string, target: ReplyTarget): void {
    if (this.#runs.has(runId)) return;
    const run: Run = {
      target,
      started: this.#o.clock.now(),
      text: "",
      tools: new Map(),
      lastEdit: 0,
      shown: "",
      inflight: Promise.resolve(),
      ended: false,
    };
    this.#runs.set(runId, run);
    this.#typing(runId, run);
  }

  /** Feeds a `chat` or `agent` event; only runs accepted here are followed. */
  onEvent(name: string, payload: unknown): void {
    if (name !== "chat" && name !== "agent") return;
    const event = payload as ChatEvent & { stream?: string; data?: Record<string, unknown> };
    if (name === "agent" && event.stream === "lifecycle" && event.data?.phase === "start") {
      // A run of a Telegram chat starts: also those replayed after a restart, which no inbound
      // message announced.
      const reply = event.data.reply as ReplyTarget | undefined;
      if (reply?.channel === "telegram") this.accepted(event.runId, reply);
      return;
    }
    // A run that collected several messages reports them all in `runIds`; the first one tracked
    // here holds the draft, and the end of the run ends them all.
    const ids = event.runIds ?? [event.runId];
    const tracked = ids.filter((id) => this.#runs.get(id)?.ended === false);
    if (tracked.length === 0) return;
    if (name === "chat" && event.state !== "delta" && event.state !== "status") {
      for (const id of tracked) this.#end(id, this.#runs.get(id)!);
      return;
    }
    const runId = tracked[0];
    const run = this.#runs.get(runId)!;
    if (name === "chat") {
      if (event.state === "delta") run.text += event.deltaText ?? "";
      else run.text = event.message?.text ?? run.text;
    } else if (event.stream === "tool" && event.data) {
      const d = event.data as { phase?: string; name?: string; callId?: string; isError?: boolean };
      const id = String(d.callId ?? d.name);
      const mark = d.phase === "start" ? "…" : d.isError ? " ✗" : " ✓";
      run.tools.set(id, `🔧 ${d.name}${mark}`);
    } else return;
    this.#schedule(runId, run);
  }

  /**
   * Stops following a run and returns its draft, if one was sent (from memory, or from KV after a
   * restart), so the answer's first chunk can replace it. Waits for an edit in flight. The draft
   * stays recorded until `forget`, so a failed replacement can be tried again.
   */
  async take(runId: string): Promise<DraftRef | undefined> {
    const run = this.#runs.get(runId);
    if (run) {
      this.#end(runId, run);
      await run.inflight;
      this.#runs.delete(runId);
    }
    return (await this.#o.kv.get<DraftRef>(telegramDraftKey(runId))).value ?? undefined;
  }

  /** The run's draft was replaced (or is gone): forget it. */
  async forget(runId: string): Promise<void> {
    await this.#o.kv.delete(telegramDraftKey(runId));
  }

  /** Stops every timer (shutdown). */
  stop(): void {
    for (const [id, run] of this.#runs) this.#end(id, run);
  }

  #end(runId: string, run: Run): void {
    run.ended = true;
    if (run.editTimer !== undefined) this.#o.clock.clearTimeout(run.editTimer);
    if (run.typingTimer !== undefined) this.#o.clock.clearTimeout(run.typingTimer);
    run.editTimer = run.typingTimer = undefined;
    // Forgotten a while after the end unless the answer's delivery takes it first.
    this.#o.clock.setTimeout(() => {
      if (this.#runs.get(runId) === run) this.#runs.delete(runId);
    }, 60_000);
  }

  #typing(runId: string, run: Run): void {
    if (run.ended || this.#o.clock.now() - run.started > MAX_FOLLOW_MS) return;
    // A draft shows progress by itself; typing only until it exists.
    if (run.draft === undefined) {
      this.#o.api.sendChatAction(run.target.to, "typing", this.#thread(run)).catch(() => {});
    }
    run.typingTimer = this.#o.clock.setTimeout(() => this.#typing(runId, run), TYPING_EVERY_MS);
  }

  #schedule(runId: string, run: Run): void {
    if (!this.#o.stream || run.editTimer !== undefined) return;
    const gap = this.#o.intervalMs * (run.target.replyTo ? 3 : 1);
    const now = this.#o.clock.now();
    const at = Math.max(run.lastEdit + gap, this.#holdUntil.get(run.target.to) ?? 0, now);
    run.editTimer = this.#o.clock.setTimeout(() => {
      run.editTimer = undefined;
      if (run.ended) return;
      run.inflight = run.inflight.then(() => this.#flush(runId, run));
    }, at - now);
  }

  async #flush(runId: string, run: Run): Promise<void> {
    if (run.ended) return;
    const text = draftText(run);
    if (!text || text === run.shown) return;
    run.lastEdit = this.#o.clock.now();
    const { api, kv, logger } = this.#o;
    try {
      if (run.draft === undefined) {
        const sent = await api.sendMessage(run.target.to, text, {
          ...this.#thread(run),
          ...(run.target.replyTo
            ? {
              reply_parameters: {
                message_id: Number(run.target.replyTo),
                allow_sending_without_reply: true,
              },
            }
            : {}),
          link_preview_options: { is_disabled: true },
        });
        run.draft = sent.message_id;
        await kv.set(
          telegramDraftKey(runId),
          { chat: run.target.to, messageId: sent.message_id } satisfies DraftRef,
          { expireIn: DRAFT_TTL_MS },
        );
      } else {
        await api.editMessageText(run.target.to, run.draft, text, {
          link_preview_options: { is_disabled: true },
        });
      }
      run.shown = text;
    } catch (err) {
      const e = err as { error_code?: number; parameters?: { retry_after?: number } };
      if (e?.error_code === 429) {
        const wait = (e.parameters?.retry_after ?? 1) * 1000;
        this.#holdUntil.set(run.target.to, this.#o.clock.now() + wait);
      } else {
        logger.debug("telegram: draft not updated", { runId, error: String(err) });
      }
    }
    // Text that came in meanwhile gets the next edit.
    if (!run.ended && draftText(run) !== run.shown) this.#schedule(runId, run);
  }

  #thread(run: Run): Record<string, unknown> {
    return run.target.threadId ? { message_thread_id: Number(run.target.threadId) } : {};
  }
}

/** The draft's text: the newest part of the answer that fits, then the tool lines. */
function draftText(run: Run): string {
  const tools = [...run.tools.values()].slice(-TOOL_LINES).join("\n");
  const room = DRAFT_CHARS - tools.length - 2;
  let text = run.text.trim();
  if (text.length > room) text = "…" + text.slice(text.length - room + 1);
  return [text, tools].filter(Boolean).join("\n\n");
}
