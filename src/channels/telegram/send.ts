/**
 * Sending to Telegram as a channel adapter: Markdown rendered to Telegram HTML chunks, each sent
 * with `sendMessage`; a chunk whose entities Telegram rejects is sent again as plain text. The
 * first chunk of a run's answer replaces the run's draft (an edit) when there is one. Bot API
 * errors become ChannelSendErrors the delivery worker understands: 429 waits `retry_after`,
 * server and network errors retry, a refused chat (400/403) is permanent.
 */
import { type ChannelAdapter, type ChannelSend, ChannelSendError } from "../../kernel/mod.ts";
import type { DraftRef } from "./drafts.ts";
import type { BotApi } from "./bot_api.ts";
import { htmlToPlainText, renderTelegram } from "./format.ts";

/** The chunk size: under Telegram's 4,096 so a converted chunk always fits. */
const CHUNK = 4_000;

/** The Bot API calls the sender makes. */
export type SendApi = Pick<BotApi, "sendMessage" | "editMessageText">;

/** The drafts a run's answer may replace. */
export interface DraftSource {
  take(runId: string): Promise<DraftRef | undefined>;
  forget(runId: string): Promise<void>;
}

/** Telegram as a channel adapter over a grammY `Api`. */
export class TelegramSender implements ChannelAdapter {
  readonly id = "telegram";
  #api: SendApi;
  #drafts: DraftSource | undefined;

  constructor(api: SendApi, drafts?: DraftSource) {
    this.#api = api;
    this.#drafts = drafts;
  }

  render(markdown: string): string[] {
    return renderTelegram(markdown, CHUNK);
  }

  async send(message: ChannelSend, signal: AbortSignal): Promise<{ messageId: string }> {
    if (message.index === 0 && message.runId && this.#drafts) {
      const draft = await this.#drafts.take(message.runId);
      if (draft && draft.chat === message.to) {
        // The draft stays recorded (it expires by itself): if the process dies before this chunk
        // is marked sent, the retry edits the same message again ("not modified" counts as done)
        // instead of sending the answer a second time.
        if (await this.#replace(draft, message.text, signal)) {
          return { messageId: String(draft.messageId) };
        }
        await this.#drafts.forget(message.runId);
      }
    }
    return await this.#sendNew(message, signal);
  }

  /** Edits the draft into the chunk; false when the draft is gone (then a new message is sent). */
  async #replace(draft: DraftRef, html: string, signal: AbortSignal): Promise<boolean> {
    const edit = (text: string, other: Record<string, unknown>) =>
      this.#api.editMessageText(draft.chat, draft.messageId, text, {
        ...other,
        link_preview_options: { is_disabled: true },
      }, signal);
    try {
      await edit(html, { parse_mode: "HTML" });
      return true;
    } catch (err) {
      if (isNotModified(err)) return true;
      if (!isEntityError(err)) return replaceable(err);
    }
    try {
      await edit(htmlToPlainText(html), {});
      return true;
    } catch (err) {
      return isNotModified(err) || replaceable(err);
    }
  }

  async #sendNew(message: ChannelSend, signal: AbortSignal): Promise<{ messageId: string }> {
    const other = {
      ...(message.threadId ? { message_thread_id: Number(message.threadId) } : {}),
      ...(message.replyTo
        ? {
          reply_parameters: {
            message_id: Number(message.replyTo),
            allow_sending_without_reply: true,
          },
        }
        : {}),
      link_preview_options: { is_disabled: true },
    };
    try {
      const sent = await this.#api.sendMessage(message.to, message.text, {
        ...other,
        parse_mode: "HTML",
      }, signal);
      return { messageId: String(sent.message_id) };
    } catch (err) {
      if (!isEntityError(err)) throw toSendError(err);
    }
    try {
      const plain = htmlToPlainText(message.text);
      const sent = await this.#api.sendMessage(message.to, plain, other, signal);
      return { messageId: String(sent.message_id) };
    } catch (err) {
      throw toSendError(err);
    }
  }
}

/** A Bot API error as grammY reports it (GrammyError), read structurally. */
interface ApiErrorLike {
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

function isEntityError(err: unknown): boolean {
  const e = err as ApiErrorLike;
  return e?.error_code === 400 && /can't parse entities|unsupported start tag/i.test(
    e.description ?? "",
  );
}

function isNotModified(err: unknown): boolean {
  const e = err as ApiErrorLike;
  return e?.error_code === 400 && /message is not modified/i.test(e.description ?? "");
}

/**
 * After a failed edit: a draft that is gone or cannot be edited (400) is given up and the chunk
 * sent as a new message; anything else (429, network) is thrown for the delivery to retry.
 */
function replaceable(err: unknown): false {
  const e = err as ApiErrorLike;
  if (e?.error_code === 400) return false;
  throw toSendError(err);
}

/** Maps a Bot API or network failure to what the delivery worker should do with it. */
export function toSendError(err: unknown): ChannelSendError {
  const e = err as ApiErrorLike;
  const code = e?.error_code;
  const description = e?.description ?? (err instanceof Error ? err.message : String(err));
  if (code === 429) {
    const after = e.parameters?.retry_after;
    return new ChannelSendError("retry", `telegram: rate limited: ${description}`, {
      retryAfterMs: after !== undefined ? after * 1000 : undefined,
      cause: err,
    });
  }
  if (code !== undefined && code >= 400 && code < 500) {
    return new ChannelSendError("permanent", `telegram: ${description}`, { cause: err });
  }
  return new ChannelSendError("retry", `telegram: ${description}`, { cause: err });
}
