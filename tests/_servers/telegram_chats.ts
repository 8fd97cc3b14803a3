/**
 * The chats the fake Telegram server keeps: message ids numbered per chat (shared by users' and
 * the bot's messages, as in a real chat), and what sendMessage, editMessageText,
 * editMessageReplyMarkup and deleteMessage do to them, refusing what the real API refuses.
 */
import {
  type Answer,
  bad,
  type Chat,
  fail,
  type InlineKeyboardMarkup,
  int,
  type Message,
  NOT_MODIFIED,
  ok,
  type Params,
  unixNow,
  type User,
} from "./telegram_api.ts";
import { type Formatted, parseHtml, trimFormatted } from "./telegram_html.ts";

/** A message in a chat: one the bot sent, or one pushed as a user's. */
export interface StoredMessage {
  /** The message as the API last returned it (edits applied). */
  message: Message;
  fromBot: boolean;
  /** The text as it was sent, markup included. */
  raw: string;
  parseMode?: string;
  /** How many edits changed it. */
  edits: number;
  deleted: boolean;
}

/** One chat and its messages. */
export interface ChatState {
  chat: Chat;
  nextMessageId: number;
  /** By message id, in the order sent. */
  messages: Map<number, StoredMessage>;
  /** sendMessage calls that succeeded. */
  deliveries: number;
}

const MAX_TEXT = 4096;
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** What the API rejects in `reply_markup`, as it words it after "Bad Request: "; null when fine. */
export function markupProblem(markup: unknown): string | null {
  if (markup === undefined || markup === null) return null;
  if (typeof markup !== "object") return "can't parse reply keyboard markup JSON object";
  const rows = (markup as { inline_keyboard?: unknown }).inline_keyboard;
  if (rows === undefined) return null; // reply keyboards, force_reply, remove: taken as they are
  if (!Array.isArray(rows) || rows.some((r) => !Array.isArray(r))) {
    return 'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays';
  }
  const actions = ["url", "callback_data", "switch_inline_query", "web_app", "login_url", "pay"];
  for (const button of rows.flat() as Record<string, unknown>[]) {
    if (typeof button?.text !== "string") {
      return 'can\'t parse inline keyboard button: Field "text" must be of type String';
    }
    const data = button.callback_data;
    if (typeof data === "string" && new TextEncoder().encode(data).length > 64) {
      return "BUTTON_DATA_INVALID";
    }
    if (!actions.some((a) => a in button)) {
      return "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard";
    }
  }
  return null;
}

/** A message text as the API stores it (parsed, trimmed, checked), or the 400 it answers. */
export function formatText(p: Params): Formatted | Answer {
  if (typeof p.text !== "string") return bad("message text is empty");
  const mode = typeof p.parse_mode === "string" ? p.parse_mode.toLowerCase() : "";
  let parsed: Formatted;
  if (mode === "html") {
    const html = parseHtml(p.text);
    if ("error" in html) return bad(`can't parse entities: ${html.error}`);
    parsed = html;
  } else if (mode === "" || mode === "markdown" || mode === "markdownv2") {
    // The Markdown modes are taken as plain text: the fake does not parse them.
    parsed = { text: p.text, entities: Array.isArray(p.entities) ? p.entities : [] };
  } else return bad("unsupported parse_mode");
  const formatted = trimFormatted(parsed.text, parsed.entities);
  if (formatted.text === "") return bad("message text is empty");
  if (formatted.text.length > MAX_TEXT) return bad("message is too long");
  return formatted;
}

/** The message as `reply_to_message` carries it: one level deep. */
export function shallow(message: Message): Message {
  const { reply_to_message: _, ...rest } = message;
  return rest as Message;
}

/** The chats of one bot, and the message methods acting on them. */
export class ChatStore {
  #chats = new Map<number, ChatState>();

  /** @param bot The bot as its messages' `from` carries it. */
  constructor(readonly bot: User) {}

  /** A chat by id, created on first use: private for positive ids, a supergroup for negative. */
  chat(id: number, init?: () => Chat): ChatState {
    let state = this.#chats.get(id);
    if (!state) {
      const chat = init?.() ??
        (id > 0
          ? { id, type: "private" as const, first_name: `User ${id}` }
          : { id, type: "supergroup" as const, title: `Group ${id}` });
      state = { chat, nextMessageId: 1, messages: new Map(), deliveries: 0 };
      this.#chats.set(id, state);
    }
    return state;
  }

  /** A known chat, without creating it. */
  get(id: number): ChatState | undefined {
    return this.#chats.get(id);
  }

  /** The chat `chat_id` names (a number, a numeric string or "@username"); undefined when none. */
  resolve(chatId: unknown): ChatState | undefined {
    if (typeof chatId === "string" && chatId.startsWith("@")) {
      const name = chatId.slice(1).toLowerCase();
      return [...this.#chats.values()].find((s) =>
        "username" in s.chat && s.chat.username?.toLowerCase() === name
      );
    }
    const id = Number(chatId);
    return Number.isSafeInteger(id) && id !== 0 ? this.chat(id) : undefined;
  }

  /** Stores a message a user sent, giving it the chat's next message id. */
  addPushed(state: ChatState, fields: Record<string, unknown>, raw: string): Message {
    const message = { message_id: state.nextMessageId++, ...fields } as unknown as Message;
    state.messages.set(message.message_id, {
      message,
      fromBot: false,
      raw,
      edits: 0,
      deleted: false,
    });
    return message;
  }

  /** The bot's latest message in a chat that is still there. */
  lastFromBot(state: ChatState): StoredMessage | undefined {
    return [...state.messages.values()].filter((m) => m.fromBot && !m.deleted).at(-1);
  }

  sendMessage(p: Params): Answer {
    const state = this.resolve(p.chat_id);
    if (!state) return bad("chat not found");
    const formatted = formatText(p);
    if ("ok" in formatted) return formatted;
    const markupError = markupProblem(p.reply_markup);
    if (markupError) return bad(markupError);

    const reply = (p.reply_parameters ?? {}) as Params;
    const replyId = int(reply.message_id) ?? int(p.reply_to_message_id);
    const target = replyId === undefined ? undefined : state.messages.get(replyId);
    const found = target && !target.deleted;
    if (replyId !== undefined && !found) {
      const mayMiss = reply.allow_sending_without_reply === true ||
        p.allow_sending_without_reply === true;
      if (!mayMiss) return bad("message to be replied not found");
    }
    const threadId = int(p.message_thread_id);
    const message = {
      message_id: state.nextMessageId++,
      from: this.bot,
      chat: state.chat,
      date: unixNow(),
      ...(threadId !== undefined ? { message_thread_id: threadId } : {}),
      ...(found ? { reply_to_message: shallow(target.message) } : {}),
      text: formatted.text,
      ...(formatted.entities.length ? { entities: formatted.entities } : {}),
      ...(p.reply_markup ? { reply_markup: p.reply_markup as InlineKeyboardMarkup } : {}),
    } as Message;
    state.messages.set(message.message_id, {
      message,
      fromBot: true,
      raw: p.text as string,
      parseMode: typeof p.parse_mode === "string" ? p.parse_mode : undefined,
      edits: 0,
      deleted: false,
    });
    state.deliveries++;
    return ok(message);
  }

  /** editMessageText (`text`) and editMessageReplyMarkup (`markup`). */
  edit(p: Params, what: "text" | "markup"): Answer {
    if (p.inline_message_id !== undefined) return bad("MESSAGE_ID_INVALID");
    const state = this.resolve(p.chat_id);
    if (!state) return bad("chat not found");
    const stored = state.messages.get(int(p.message_id) ?? 0);
    if (!stored || stored.deleted) return bad("message to edit not found");
    if (!stored.fromBot) return bad("message can't be edited");
    const markupError = markupProblem(p.reply_markup);
    if (markupError) return bad(markupError);

    const old = stored.message;
    let text = old.text ?? "";
    let entities = old.entities ?? [];
    if (what === "text") {
      const formatted = formatText(p);
      if ("ok" in formatted) return formatted;
      ({ text, entities } = formatted);
    }
    // An edit without reply_markup removes the inline keyboard, as in the real API.
    const markup = p.reply_markup ?? undefined;
    if (text === old.text && same(entities, old.entities ?? []) && same(markup, old.reply_markup)) {
      return fail(400, NOT_MODIFIED);
    }
    const { entities: _e, reply_markup: _m, ...rest } = old;
    stored.message = {
      ...rest,
      text,
      ...(entities.length ? { entities } : {}),
      ...(markup ? { reply_markup: markup as InlineKeyboardMarkup } : {}),
      edit_date: unixNow(),
    } as Message;
    if (what === "text") {
      stored.raw = p.text as string;
      stored.parseMode = typeof p.parse_mode === "string" ? p.parse_mode : undefined;
    }
    stored.edits++;
    return ok(stored.message);
  }

  deleteMessage(p: Params): Answer {
    const state = this.resolve(p.chat_id);
    if (!state) return bad("chat not found");
    const stored = state.messages.get(int(p.message_id) ?? 0);
    if (!stored || stored.deleted) return bad("message to delete not found");
    stored.deleted = true;
    return ok(true);
  }

  /** Forgets every chat. */
  clear(): void {
    this.#chats.clear();
  }
}
