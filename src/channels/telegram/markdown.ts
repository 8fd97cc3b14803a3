/**
 * Markdown as models write it (CommonMark with GitHub's tables and strikethrough), converted to
 * Telegram's HTML parse mode, or to the plain text sent when Telegram rejects the HTML.
 *
 * Telegram has no headings, lists, rules or tables, so those become text: bold lines, "• " and
 * "1. " lines, "———", and a `<pre>` block with the table laid out in columns. Everything that is
 * not a construct below is escaped and shown as written; raw HTML in the Markdown included.
 */
import { escapeHtml, splitGraphemes } from "./_html.ts";
import { renderInline } from "./_inline.ts";

/** An opening code fence: its marker (to find the close), the language and its indentation. */
export interface Fence {
  /** The run of backticks or tildes that opened it; the close is the same character, as many. */
  marker: string;
  /** The language from the info string, or "" when none (or not a plausible name). */
  lang: string;
  indent: number;
  /** The opening line as written, to re-open the block in the next chunk. */
  line: string;
}

const FENCE = /^([ \t]*)(`{3,}|~{3,})(.*)$/;
const FENCE_CLOSE = /^[ \t]*(`{3,}|~{3,})[ \t]*$/;
const LANGUAGE = /^[\w#+.-]{1,32}$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const SETEXT = /^ {0,3}(?:=+|-+)[ \t]*$/;
const QUOTE = /^ {0,3}>/;
const BULLET = /^([ \t]*)[-*+][ \t]+(.*)$/;
const TASK = /^\[([ xX])\][ \t]+(.*)$/;
const ORDERED = /^([ \t]*)(\d{1,9})[.)][ \t]+(.*)$/;
const TABLE_DELIMITER = /^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const BLANK = /^[ \t]*$/;

/** What a horizontal rule becomes: as long as `---`, so the text never grows past its source. */
const RULE_TEXT = "———";

/** Converts Markdown to Telegram HTML: every tag balanced, code contents never formatted. */
export function markdownToTelegramHtml(md: string): string {
  return renderBlocks(toLines(md), true, false);
}

/**
 * The same text without formatting (markers removed, no HTML, links as "label (url)"), for when
 * Telegram rejects the HTML. It can be longer than the HTML's visible text by the link targets.
 */
export function plainText(md: string): string {
  return renderBlocks(toLines(md), false, false);
}

/** Splits Markdown into lines, whatever the line endings. */
export function toLines(md: string): string[] {
  return md.replace(/\r\n?/g, "\n").split("\n");
}

/** The fence `line` opens, if it opens one. */
export function openFence(line: string): Fence | undefined {
  const m = FENCE.exec(line);
  if (!m || (m[2][0] === "`" && m[3].includes("`"))) return undefined;
  const lang = m[3].trim().split(/\s+/)[0];
  return {
    marker: m[2],
    lang: LANGUAGE.test(lang) ? lang : "",
    indent: m[1].length,
    line,
  };
}

/** Whether `line` closes `fence`. */
export function closesFence(line: string, fence: Fence): boolean {
  const m = FENCE_CLOSE.exec(line);
  return !!m && m[1][0] === fence.marker[0] && m[1].length >= fence.marker.length;
}

/** Whether a table (a row of cells, then a `---|---` row with as many) starts at line `i`. */
export function isTableStart(lines: readonly string[], i: number): boolean {
  const head = lines[i];
  const delimiter = lines[i + 1];
  return delimiter !== undefined && head.includes("|") && TABLE_DELIMITER.test(delimiter) &&
    tableCells(head).length === tableCells(delimiter).length;
}

/** Whether line `i` is a table row (after the table's first two lines). */
export function isTableRow(line: string): boolean {
  return !BLANK.test(line) && line.includes("|");
}

function startsBlock(lines: readonly string[], i: number): boolean {
  const line = lines[i];
  return openFence(line) !== undefined || HEADING.test(line) || RULE.test(line) ||
    QUOTE.test(line) || isTableStart(lines, i);
}

/** Renders block structure; inside a quote, quotes are flattened (Telegram cannot nest them). */
function renderBlocks(lines: readonly string[], html: boolean, inQuote: boolean): string {
  let out = "";
  let blank = false;
  const emit = (block: string) => {
    if (block === "") return;
    out += out === "" ? block : (blank ? "\n\n" : "\n") + block;
    blank = false;
  };
  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    const fence = openFence(line);
    let heading: RegExpExecArray | null;
    if (BLANK.test(line)) {
      blank = true;
      i++;
    } else if (fence) {
      const body: string[] = [];
      for (i++; i < lines.length && !closesFence(lines[i], fence); i++) {
        body.push(lines[i].replace(new RegExp(`^[ \\t]{0,${fence.indent}}`), ""));
      }
      i++; // the closing fence; an unclosed block runs to the end, as in CommonMark
      emit(codeBlock(body.join("\n"), fence.lang, html));
    } else if ((heading = HEADING.exec(line))) {
      emit(bold(renderInline(heading[2] ?? "", html), html));
      i++;
    } else if (RULE.test(line)) {
      emit(RULE_TEXT);
      i++;
    } else if (QUOTE.test(line)) {
      const inner: string[] = [];
      for (; i < lines.length && QUOTE.test(lines[i]); i++) {
        inner.push(lines[i].replace(/^ {0,3}> ?/, ""));
      }
      const content = renderBlocks(inner, html, true);
      emit(html && !inQuote && content !== "" ? `<blockquote>${content}</blockquote>` : content);
    } else if (isTableStart(lines, i)) {
      const rows = [line, lines[i + 1]];
      for (i += 2; i < lines.length && isTableRow(lines[i]); i++) rows.push(lines[i]);
      emit(table(rows, html));
    } else if (
      i + 1 < lines.length && SETEXT.test(lines[i + 1]) && !BULLET.test(line) &&
      !ORDERED.test(line)
    ) {
      emit(bold(renderInline(line.trim(), html), html));
      i += 2;
    } else {
      const start = i;
      for (i++; i < lines.length && !BLANK.test(lines[i]) && !startsBlock(lines, i); i++);
      emit(paragraph(lines.slice(start, i), html));
    }
  }
  return out;
}

function bold(inner: string, html: boolean): string {
  return html && inner !== "" ? `<b>${inner}</b>` : inner;
}

function codeBlock(body: string, lang: string, html: boolean): string {
  // An empty block shows nothing; Telegram would refuse a message of only that.
  if (body.trim() === "") return "";
  if (!html) return body;
  const code = escapeHtml(body);
  return lang
    ? `<pre><code class="language-${escapeHtml(lang)}">${code}</code></pre>`
    : `<pre>${code}</pre>`;
}

/**
 * A paragraph, where list items are lines of their own: emphasis may span the soft line breaks
 * of one item or paragraph, never two items.
 */
function paragraph(lines: readonly string[], html: boolean): string {
  const items: { prefix: string; text: string; list: boolean }[] = [];
  for (const line of lines) {
    const bullet = BULLET.exec(line);
    const ordered = bullet ? null : ORDERED.exec(line);
    if (bullet) {
      const task = TASK.exec(bullet[2]);
      const mark = task ? (task[1] === " " ? "☐ " : "☑ ") : "• ";
      items.push({
        prefix: bullet[1] + mark,
        text: (task?.[2] ?? bullet[2]).trimEnd(),
        list: true,
      });
    } else if (ordered) {
      items.push({
        prefix: `${ordered[1]}${ordered[2]}. `,
        text: ordered[3].trimEnd(),
        list: true,
      });
    } else if (items.length > 0) {
      const last = items[items.length - 1];
      last.text += "\n" + (last.list ? line.trimEnd() : line.trim());
    } else {
      items.push({ prefix: "", text: line.trim(), list: false });
    }
  }
  return items.map((item) => item.prefix + renderInline(item.text, html)).join("\n");
}

/** The cells of a table row: split on `|` outside code spans, `\|` kept as a `|`. */
export function tableCells(row: string): string[] {
  const cells: string[] = [];
  let cell = "";
  let code = 0;
  for (let i = 0; i < row.length; i++) {
    const c = row[i];
    if (c === "\\" && row[i + 1] === "|") {
      cell += "|";
      i++;
    } else if (c === "`") {
      let run = 1;
      while (row[i + run] === "`") run++;
      if (code === 0) code = run;
      else if (code === run) code = 0;
      cell += row.slice(i, i + run);
      i += run - 1;
    } else if (c === "|" && code === 0) {
      cells.push(cell);
      cell = "";
    } else cell += c;
  }
  cells.push(cell);
  const trimmed = row.trim();
  if (trimmed.startsWith("|")) cells.shift();
  if (trimmed.endsWith("|") && !trimmed.endsWith("\\|") && cells.length > 0) cells.pop();
  return cells;
}

/** A table as monospace text in columns; cell formatting dropped (a `<pre>` shows none). */
function table(rows: readonly string[], html: boolean): string {
  const header = tableCells(rows[0]);
  const align = tableCells(rows[1]).map((c) => {
    const d = c.trim();
    return d.endsWith(":") ? (d.startsWith(":") ? "center" : "right") : "left";
  });
  const grid = [rows[0], ...rows.slice(2)].map((row) => {
    const cells = tableCells(row);
    return header.map((_, k) => renderInline((cells[k] ?? "").trim(), false));
  });
  const widths = header.map((_, k) => Math.max(1, ...grid.map((r) => displayWidth(r[k]))));
  const pad = (cell: string, k: number) => {
    const room = widths[k] - displayWidth(cell);
    const left = align[k] === "right" ? room : align[k] === "center" ? room >> 1 : 0;
    return " ".repeat(left) + cell + " ".repeat(room - left);
  };
  const line = (r: string[]) => r.map(pad).join(" | ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("-+-");
  const text = [line(grid[0]), rule, ...grid.slice(1).map(line)].join("\n");
  return html ? `<pre>${escapeHtml(text)}</pre>` : text;
}

// East Asian wide characters and most emoji take two columns in a monospace font.
const WIDE =
  /^[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1FAFF}\u{20000}-\u{3FFFD}]/u;

function displayWidth(text: string): number {
  let width = 0;
  for (const g of splitGraphemes(text)) width += WIDE.test(g) ? 2 : 1;
  return width;
}
