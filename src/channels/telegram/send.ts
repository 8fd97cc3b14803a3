/**
 * Sending to Telegram as a channel adapter: Markdown rendered to Telegram HTML chunks, each sent
 * with `sendMessage`; a chunk whose entities Telegram rejects is sent again as plain text. Bot API
 * errors become ChannelSendErrors the delivery worker understands: 429 waits `retry_after`,
 * server and network errors retry, a refused chat (400/403) is permanent.
 */
import { type ChannelAdapter, type ChannelSend, ChannelSendError } from "../../kernel/mod.ts";
import { htmlToPlainText, renderTelegram } from "./format.ts";

/** The chunk size: under Telegram's 4,096 so a converted chunk always fits. */
const CHUNK = 4_000;

/** The Bot API call the sender makes (a grammY `Api` fits). */
export interface SendApi {
  sendMessage(
    chatId: string,
    text: string,
    other: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<{ message_id: number }>;
}

/** Telegram as a channel adapter over a grammY `Api`. */
export class TelegramSender implements ChannelAdapter {
  readonly id = "telegram";
  #api: SendApi;

  constructor(api: SendApi) {
    this.#api = api;
  }

  render(markdown: string): string[] {
    return renderTelegram(markdown, CHUNK);
  }

  async send(message: ChannelSend, signal: AbortSignal): Promise<{ messageId: string }> {
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
    };
    try {
      const sent = await this.#api.sendMessage(message.to, message.text, {
        ...other,
        parse_mode: "HTML",
        link_preview_options: { is_disabled: true },
      }, signal);
      return { messageId: String(sent.message_id) };
    } catch (err) {
      if (!isEntityError(err)) throw toSendError(err);
    }
    try {
      const sent = await this.#api.sendMessage(
        message.to,
        htmlToPlainText(message.text),
        other,
        signal,
      );
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
