/**
 * What the fake Telegram server holds after a crash run, read as answers: each bot message is a
 * model answer (`echo: <text>`, the fake provider's echo), an interrupted-turn notice
 * (`⚠️ Not answered: "<text>": …`) or a stray (neither: a half draft left behind); and the calls
 * that put them there, to tell which process sent what. Private to `bench/`.
 */
import type { FakeTelegram, RecordedCall } from "../tests/_servers/telegram.ts";

const ANSWER = /^echo: (.+)$/;
const NOTICE = /^⚠️ Not answered: "(.+?)": the gateway stopped before this turn/;

/** The bot messages of some chats, by the user message text they answer. */
export interface Ledger {
  /** Per answered text: how many answers and notices carry it, and in which chats. */
  byText: Map<string, { answers: number; notices: number; chats: Set<number> }>;
  /** Bot messages that are neither an answer nor a notice. */
  stray: { chat: number; messageId: number; text: string }[];
  /** Chats with more successful sendMessage calls than bot messages. */
  extraDeliveries: { chat: number; deliveries: number; messages: number }[];
}

/**
 * Reads the bot messages of `chatIds` (edits applied) as answers and notices of the `known` user
 * texts; anything else (a half draft such as `echo: chat`) is a stray.
 */
export function readLedger(
  telegram: FakeTelegram,
  options: { chatIds: number[]; known: ReadonlySet<string> },
): Ledger {
  const byText: Ledger["byText"] = new Map();
  const stray: Ledger["stray"] = [];
  const extraDeliveries: Ledger["extraDeliveries"] = [];
  for (const chat of options.chatIds) {
    const sent = telegram.messages(chat).filter((m) => m.fromBot && !m.deleted);
    for (const { message } of sent) {
      const text = message.text ?? "";
      const answer = ANSWER.exec(text)?.[1];
      const about = answer ?? NOTICE.exec(text)?.[1];
      if (about === undefined || !options.known.has(about)) {
        stray.push({ chat, messageId: message.message_id, text });
        continue;
      }
      const t = byText.get(about) ?? { answers: 0, notices: 0, chats: new Set<number>() };
      if (answer !== undefined) t.answers++;
      else t.notices++;
      t.chats.add(chat);
      byText.set(about, t);
    }
    const deliveries = telegram.deliveries(chat);
    if (deliveries > sent.length) {
      extraDeliveries.push({ chat, deliveries, messages: sent.length });
    }
  }
  return { byText, stray, extraDeliveries };
}

/** An answer or notice as it reaches Telegram: a new message or a draft edited into it, in HTML. */
export const isAnswerCall = (c: RecordedCall): boolean =>
  (c.method === "sendMessage" || c.method === "editMessageText") && c.status === 200 &&
  c.params.parse_mode === "HTML";

/** A draft as it reaches Telegram: the plain-text sendMessage that creates it. */
export const isDraftCall = (c: RecordedCall): boolean =>
  c.method === "sendMessage" && c.status === 200 && c.params.parse_mode === undefined;

/** The message id a send created or an edit changed. */
export function messageIdOf(c: RecordedCall): number | undefined {
  const created = (c.result as { message_id?: number } | undefined)?.message_id;
  return created ?? (typeof c.params.message_id === "number" ? c.params.message_id : undefined);
}

/** The sends and edits (any outcome) whose text names `text` in `chat`, oldest first. */
export function callsCarrying(telegram: FakeTelegram, chat: number, text: string): RecordedCall[] {
  return telegram.calls.filter((c) =>
    (c.method === "sendMessage" || c.method === "editMessageText") &&
    String(c.params.chat_id) === String(chat) &&
    typeof c.params.text === "string" && c.params.text.includes(text)
  );
}

/** The sendMessage that created bot message `messageId` in `chat`. */
export function creatorOf(
  telegram: FakeTelegram,
  chat: number,
  messageId: number,
): RecordedCall | undefined {
  return telegram.calls.find((c) =>
    c.method === "sendMessage" && c.status === 200 && String(c.params.chat_id) === String(chat) &&
    messageIdOf(c) === messageId
  );
}

/** A call for a report line: `sendMessage "echo: chat 03 message 017"`. */
export function describeCall(c: RecordedCall): string {
  const text = typeof c.params.text === "string" ? c.params.text : "";
  return `${c.method} ${JSON.stringify(text.length > 60 ? text.slice(0, 60) + "…" : text)}`;
}

/** Whether a call carries a notice (its text is HTML, quotes escaped: told by the opening words). */
export const isNoticeCall = (c: RecordedCall): boolean =>
  String(c.params.text ?? "").includes("Not answered");
