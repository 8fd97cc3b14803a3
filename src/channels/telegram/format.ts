/**
 * Markdown, as models write it, turned into Telegram messages: HTML parse mode, split to fit.
 *
 * @example
 * ```ts
 * const messages = renderTelegram(reply); // HTML chunks, in order, each within the limit
 * // When Telegram rejects one ("can't parse entities"), send its text instead:
 * const fallback = htmlToPlainText(messages[0]);
 * ```
 */
export { markdownToTelegramHtml, plainText } from "./markdown.ts";
export {
  DEFAULT_CHUNK_LIMIT,
  markdownChunks,
  renderTelegram,
  splitForTelegram,
  type SplitOptions,
  TELEGRAM_TEXT_LIMIT,
} from "./split.ts";
export { escapeHtml, htmlToPlainText, visibleLength } from "./_html.ts";
