/**
 * Splitting long replies into Telegram messages. Markdown is split before it is converted, at
 * paragraph breaks first, then lines, then words, then anywhere between two graphemes; a code block
 * or table is cut only when it alone is too long, and is re-opened in the next chunk. Text that is
 * already plain or HTML is split with the tags open at the cut closed and re-opened.
 */
import { htmlToPlainText, type HtmlUnit, htmlUnits, splitGraphemes } from "./_html.ts";
import {
  closesFence,
  isTableRow,
  isTableStart,
  markdownToTelegramHtml,
  openFence,
  toLines,
} from "./markdown.ts";

/** Telegram's limit on a message's text, counted after entity parsing. */
export const TELEGRAM_TEXT_LIMIT = 4096;
/** The chunk size used when none is given: under the limit, with room to spare. */
export const DEFAULT_CHUNK_LIMIT = 4000;
const MIN_LIMIT = 32;

/** Options of {@linkcode splitForTelegram}. */
export interface SplitOptions {
  /** The text is Telegram HTML (tags are kept whole and balanced per chunk). @default false */
  html?: boolean;
}

type OpenTag = Extract<HtmlUnit, { kind: "open" }>;

/** What a cut inside a block adds: the block re-opened in the next chunk, closed in this one. */
interface Reopen {
  open: string;
  close: string;
}

/** A run of Markdown, and the boundary before it. */
interface Piece {
  text: string;
  /** What joins it to the previous piece in the source: blank lines, a newline, a space, nothing. */
  joiner: string;
  /** How good a cut before it is; 0 is never. */
  rank: number;
  /** Set when a cut before it falls inside a code block, a table or a quoted line. */
  reopen?: Reopen;
}

const RANK = { never: 0, hard: 1, word: 2, blockLine: 3, line: 4, paragraph: 5 };
const BLANK = /^[ \t]*$/;
const QUOTE_PREFIX = /^ {0,3}(?:> ?)+/;

/**
 * Splits Markdown into chunks, in order, each at most `limit` long and showing at most `limit`
 * characters once converted (a table so wide that one row and its header do not fit is the one
 * exception; {@linkcode renderTelegram} splits that as HTML). What was cut at (blank lines, a
 * newline, a space) is dropped; chunks that would show nothing are left out.
 */
export function markdownChunks(md: string, limit: number = DEFAULT_CHUNK_LIMIT): string[] {
  checkLimit("markdownChunks", limit);
  return fit(md, limit, limit, 0);
}

/**
 * Converts Markdown into the Telegram HTML messages to send, in order, each within `limit`
 * visible characters: the chunks of {@linkcode markdownChunks}, converted one by one so no tag
 * straddles two messages.
 */
export function renderTelegram(md: string, limit: number = DEFAULT_CHUNK_LIMIT): string[] {
  checkLimit("renderTelegram", limit);
  return markdownChunks(md, limit).flatMap((chunk) => {
    const html = markdownToTelegramHtml(chunk);
    // Only a pathological table can still be too long here; split it as HTML then.
    return htmlToPlainText(html).length <= limit
      ? [html]
      : splitForTelegram(html, limit, { html: true });
  });
}

// A chunk's HTML shows no more than its Markdown, except tables (padded into columns): a chunk
// that grew past the limit is split again with a proportionally smaller budget.
function fit(md: string, limit: number, budget: number, depth: number): string[] {
  return pack(pieces(md, budget), budget).flatMap((chunk) => {
    const shown = htmlToPlainText(markdownToTelegramHtml(chunk));
    if (shown.trim() === "") return [];
    if (shown.length <= limit || depth >= 4) return [chunk];
    const smaller = Math.max(MIN_LIMIT, Math.floor((budget * limit) / shown.length) - 1);
    return fit(chunk, limit, smaller, depth + 1);
  });
}

/** Cuts Markdown into pieces: whole lines, or words and grapheme runs of lines too long. */
function pieces(md: string, budget: number): Piece[] {
  const out: Piece[] = [];
  const lines = toLines(md);
  let blanks: string[] = [];
  // Blank lines before a line make the cut before it a paragraph break.
  const outside = () => (blanks.length > 0 ? RANK.paragraph : RANK.line);
  const add = (text: string, rank: number, reopen?: Reopen) => {
    const joiner = out.length === 0 ? "" : "\n" + blanks.map((b) => `${b}\n`).join("");
    blanks = [];
    addLine(out, { text, joiner, rank, reopen }, budget);
  };
  // A reopen that would take more than a quarter of a chunk is not worth it: cut plainly.
  const usable = (r: Reopen) => (r.open.length + r.close.length <= budget / 4 ? r : undefined);

  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    const fence = openFence(line);
    if (BLANK.test(line)) {
      if (out.length > 0) blanks.push(line);
      i++;
    } else if (fence) {
      let end = i + 1;
      while (end < lines.length && !closesFence(lines[end], fence)) end++;
      const reopen = usable({ open: `${fence.line}\n`, close: `\n${fence.marker}` });
      const rank = reopen ? RANK.blockLine : RANK.line;
      add(line, outside());
      for (let j = i + 1; j < end; j++) add(lines[j], j === i + 1 ? RANK.never : rank, reopen);
      if (end < lines.length) add(lines[end], RANK.never, reopen);
      i = end + 1;
    } else if (isTableStart(lines, i)) {
      const reopen = usable({ open: `${line}\n${lines[i + 1]}\n`, close: "" });
      const rank = reopen ? RANK.blockLine : RANK.line;
      add(line, outside());
      add(lines[i + 1], RANK.never);
      // No cut before the first row either: a chunk of only the header would show no data.
      let j = i + 2;
      for (; j < lines.length && isTableRow(lines[j]); j++) {
        add(lines[j], j === i + 2 ? RANK.never : rank, reopen);
      }
      i = j;
    } else {
      add(line, outside());
      i++;
    }
  }
  return out;
}

/** Adds a line as one piece, or, when it cannot fit a chunk, as words (or grapheme runs). */
function addLine(out: Piece[], line: Piece, budget: number): void {
  const overhead = line.reopen ? line.reopen.open.length + line.reopen.close.length : 0;
  if (line.text.length + overhead <= budget) {
    out.push(line);
    return;
  }
  // A quoted line cut between words stays quoted in the next chunk.
  const quote = line.reopen ? "" : QUOTE_PREFIX.exec(line.text)?.[0] ?? "";
  const reopen = line.reopen ?? (quote ? { open: quote, close: "" } : undefined);
  const room = Math.max(1, budget - overhead - quote.length);
  let first = true;
  const push = (text: string, joiner: string, rank: number) => {
    out.push(first ? { ...line, text } : { text, joiner, rank, reopen });
    first = false;
  };
  for (const [k, word] of line.text.split(" ").entries()) {
    const joiner = k === 0 ? "" : " ";
    if (word.length <= room) {
      push(word, joiner, RANK.word);
      continue;
    }
    let run = "";
    let runJoiner = joiner;
    let runRank = RANK.word;
    for (const g of splitGraphemes(word)) {
      if (run !== "" && run.length + g.length > room) {
        push(run, runJoiner, runRank);
        [run, runJoiner, runRank] = ["", "", RANK.hard];
      }
      run += g;
    }
    push(run, runJoiner, runRank);
  }
}

/** Greedy packing: each chunk ends at the latest best-ranked cut that keeps it within budget. */
function pack(list: Piece[], budget: number): string[] {
  const chunks: string[] = [];
  for (let start = 0; start < list.length;) {
    const prefix = start > 0 ? list[start].reopen?.open ?? "" : "";
    let size = prefix.length + list[start].text.length;
    let cut = -1;
    let cutRank = RANK.never;
    let end = start + 1;
    for (; end < list.length; end++) {
      const p = list[end];
      const close = p.reopen?.close ?? "";
      if (p.rank > RANK.never && p.rank >= cutRank && size + close.length <= budget) {
        [cut, cutRank] = [end, p.rank];
      }
      size += p.joiner.length + p.text.length;
      if (size > budget) break;
    }
    if (end >= list.length && size <= budget) cut = list.length;
    // Cannot happen while every piece fits with its overheads; advance anyway.
    if (cut < 0) cut = start + 1;
    let text = prefix + list[start].text;
    for (let k = start + 1; k < cut; k++) text += list[k].joiner + list[k].text;
    if (cut < list.length) text += list[cut].reopen?.close ?? "";
    text = text.replace(/^(?:[ \t]*\n)+/, "").trimEnd();
    if (text !== "") chunks.push(text);
    start = cut;
  }
  return chunks;
}

/**
 * Splits plain text, or Telegram HTML with `{ html: true }`, into chunks of at most `limit`
 * visible characters (UTF-16 code units, never fewer than Telegram counts), at paragraph breaks,
 * then lines, then spaces, then between graphemes. HTML chunks close the tags open at the cut and
 * re-open them (attributes included) in the next chunk; whitespace at a cut is dropped.
 */
export function splitForTelegram(
  text: string,
  limit: number = DEFAULT_CHUNK_LIMIT,
  options: SplitOptions = {},
): string[] {
  checkLimit("splitForTelegram", limit);
  const units: HtmlUnit[] = options.html
    ? htmlUnits(text)
    : splitGraphemes(text).map((g) => ({ kind: "text", raw: g, text: g }));
  const isSpace = (u: HtmlUnit | undefined) => u?.kind === "text" && /^\s+$/.test(u.text);
  const chunks: string[] = [];
  let open: OpenTag[] = [];
  for (let i = 0; i < units.length;) {
    while (isSpace(units[i])) i++;
    if (i >= units.length) break;
    const start = i;
    const reopened = open;
    const stack = open.slice();
    let size = 0;
    let best = { at: -1, rank: 0, stack: stack };
    let last = "", beforeLast = "";
    for (; i < units.length; i++) {
      const u = units[i];
      // A cut right after an opening tag would leave it empty: cut before the tag instead.
      if (size > 0 && units[i - 1].kind !== "open") {
        // Paragraph break, line break, space; at equal rank, a cut with no tag open is better.
        const base = isNewline(last) ? (isNewline(beforeLast) ? 3 : 2) : /^\s$/.test(last) ? 1 : 0;
        const rank = base * 2 + (stack.length === 0 ? 1 : 0);
        if (rank >= 2 && rank >= best.rank) best = { at: i, rank, stack: stack.slice() };
      }
      if (u.kind === "text") {
        if (size > 0 && size + u.text.length > limit) break;
        size += u.text.length;
        [beforeLast, last] = [last, u.text];
      } else if (u.kind === "open") stack.push(u);
      else {
        const k = stack.findLastIndex((o) => o.name === u.name);
        if (k >= 0) stack.splice(k, 1);
      }
    }
    let at = i;
    let atStack = stack;
    if (i < units.length && best.at >= 0) [at, atStack] = [best.at, best.stack];
    else {
      // A hard cut: leave tags that would open at the very end for the next chunk.
      while (at - 1 > start && units[at - 1].kind === "open") {
        [at, atStack] = [at - 1, atStack.slice(0, -1)];
      }
    }
    let end = at;
    while (end > start && isSpace(units[end - 1])) end--;
    const body = units.slice(start, end).map((u) => u.raw).join("");
    const closing = atStack.toReversed().map((u) => `</${u.name}>`).join("");
    chunks.push(reopened.map((u) => u.raw).join("") + body + closing);
    i = at;
    open = atStack;
  }
  return chunks;
}

function isNewline(text: string): boolean {
  return text === "\n" || text === "\r\n";
}

function checkLimit(fn: string, limit: number): void {
  if (!Number.isInteger(limit) || limit < MIN_LIMIT || limit > TELEGRAM_TEXT_LIMIT) {
    throw new RangeError(
      `${fn}: limit ${limit} is not a whole number in ${MIN_LIMIT}..${TELEGRAM_TEXT_LIMIT}: Telegram shows at most ${TELEGRAM_TEXT_LIMIT} characters a message`,
    );
  }
}
