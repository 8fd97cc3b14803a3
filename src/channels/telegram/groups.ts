/**
 * Groups: whether a group message is addressed to the bot (a mention of @bot, a text mention, a
 * `/command@bot`, or a reply to one of the bot's messages), and the unaddressed messages kept as
 * context for the next addressed one, per group or forum topic, bounded.
 */
import { telegramGroupContextKey } from "../../store/keys.ts";
import { type BotIdentity, displayName, type TgMessage } from "./update.ts";

/** Whether a group message is addressed to the bot. */
export function addressesBot(message: TgMessage, bot: BotIdentity): boolean {
  if (message.reply_to_message?.from?.id === bot.id) return true;
  const text = message.text ?? message.caption ?? "";
  const entities = message.entities ?? message.caption_entities ?? [];
  const handle = `@${bot.username}`.toLowerCase();
  for (const e of entities) {
    // Offsets count UTF-16 code units, as JavaScript strings do.
    const slice = text.slice(e.offset, e.offset + e.length);
    if (e.type === "mention" && slice.toLowerCase() === handle) return true;
    if (e.type === "text_mention" && e.user?.id === bot.id) return true;
    if (e.type === "bot_command" && slice.toLowerCase().endsWith(handle)) return true;
  }
  return false;
}

/** The text with the bot's @handle taken out (the model need not see it). */
export function withoutMention(text: string, bot: BotIdentity): string {
  const re = new RegExp(`@${bot.username}\\b`, "gi");
  return text.replace(re, "").replace(/[ \t]{2,}/g, " ").trim();
}

/** One remembered group message. */
interface ContextLine {
  from: string;
  text: string;
}

/** The unaddressed messages of a group (or topic), kept in KV so a restart keeps them. */
export class GroupContext {
  #kv: Deno.Kv;
  #max: number;

  constructor(kv: Deno.Kv, max: number) {
    this.#kv = kv;
    this.#max = max;
  }

  /** Remembers an unaddressed message (the oldest go past the limit). */
  async remember(chat: string, thread: string | undefined, message: TgMessage): Promise<void> {
    if (this.#max === 0) return;
    const text = message.text ?? message.caption;
    if (!text || !message.from) return;
    const key = telegramGroupContextKey(chat, thread);
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.#kv.get<ContextLine[]>(key);
      const lines = [...(current.value ?? []), {
        from: displayName(message.from),
        text: text.slice(0, 2_000),
      }].slice(-this.#max);
      const ok = await this.#kv.atomic().check(current).set(key, lines).commit();
      if (ok.ok) return;
    }
  }

  /** The remembered messages as a preamble for the addressed one, or "" when there are none. */
  async preamble(chat: string, thread: string | undefined): Promise<string> {
    const lines = (await this.#kv.get<ContextLine[]>(telegramGroupContextKey(chat, thread))).value;
    if (!lines?.length) return "";
    return "[Earlier in this group, not addressed to you:]\n" +
      lines.map((l) => `${l.from}: ${l.text}`).join("\n") + "\n[Now addressed to you:]\n";
  }

  /** Forgets what was used (after the addressed message was recorded). */
  async clear(chat: string, thread: string | undefined): Promise<void> {
    await this.#kv.delete(telegramGroupContextKey(chat, thread));
  }
}
