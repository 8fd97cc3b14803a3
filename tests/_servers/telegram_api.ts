/**
 * The Bot API's vocabulary for the fake Telegram server: its types (reached through grammY's own
 * exports, since deno.json maps `grammy` and `grammy/web` but not the `grammy/types` subpath), its
 * answer envelope, and error descriptions worded as the real API words them.
 */
import type { Context, GrammyError } from "grammy";

/** An incoming update (`Update`). */
export type Update = Context["update"];
/** A message (`Message`). */
export type Message = NonNullable<Context["msg"]>;
/** A chat (`Chat`). */
export type Chat = NonNullable<Context["chat"]>;
/** A user (`User`). */
export type User = NonNullable<Context["from"]>;
/** The bot as `getMe` returns it (`UserFromGetMe`). */
export type UserFromGetMe = Context["me"];
/** A formatting or detected entity of a text (`MessageEntity`). */
export type MessageEntity = NonNullable<Message["entities"]>[number];
/** A pressed inline button (`CallbackQuery`). */
export type CallbackQuery = NonNullable<Context["callbackQuery"]>;
/** An inline keyboard attached to a message (`InlineKeyboardMarkup`). */
export type InlineKeyboardMarkup = NonNullable<Message["reply_markup"]>;
/** The `parameters` of an error answer (`ResponseParameters`). */
export type ResponseParameters = GrammyError["parameters"];

/** A call's parameters, from JSON, a form or the query string. */
export type Params = Record<string, unknown>;

/** The body of every answer: a result, or an error with its code, description and parameters. */
export type Answer =
  | { ok: true; result: unknown; description?: string }
  | { ok: false; error_code: number; description: string; parameters?: ResponseParameters };

/** What the real API answers when a second getUpdates call takes over the long poll. */
export const POLL_CONFLICT =
  "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
/** What the real API answers to getUpdates while a webhook is set. */
export const WEBHOOK_CONFLICT = "Conflict: can't use getUpdates method while webhook is active; " +
  "use deleteWebhook to delete the webhook first";
/** What the real API answers to an edit that changes nothing. */
export const NOT_MODIFIED =
  "Bad Request: message is not modified: specified new message content and reply markup are " +
  "exactly the same as a current content and reply markup of the message";
/** What the real API answers to an unknown or already answered callback query. */
export const QUERY_INVALID =
  "Bad Request: query is too old and response timeout expired or query ID is invalid";

/** A successful answer. */
export const ok = (result: unknown, description?: string): Answer => ({
  ok: true,
  result,
  ...(description ? { description } : {}),
});

/** An error answer; `parameters` is left out when empty, as the real API does. */
export const fail = (
  error_code: number,
  description: string,
  parameters?: ResponseParameters,
): Answer => ({
  ok: false,
  error_code,
  description,
  ...(parameters && Object.keys(parameters).length ? { parameters } : {}),
});

/** A 400 answer: `Bad Request: <what>`. */
export const bad = (what: string): Answer => fail(400, `Bad Request: ${what}`);

/** The real API's wording for an error status, used when a scripted failure names none. */
export function defaultDescription(status: number, retryAfter: number): string {
  switch (status) {
    case 400:
      return "Bad Request: the fake was scripted to reject this request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden: bot was blocked by the user";
    case 404:
      return "Not Found";
    case 409:
      return POLL_CONFLICT;
    case 429:
      return `Too Many Requests: retry after ${retryAfter}`;
    case 500:
      return "Internal Server Error";
    default:
      return `Error ${status}`;
  }
}

/** A parameter as an integer; undefined when absent or empty. */
export const int = (v: unknown): number | undefined =>
  v === undefined || v === null || v === "" ? undefined : Number(v);

/** Now in Unix seconds, as message dates are. */
export const unixNow = (): number => Math.floor(Date.now() / 1000);
