/**
 * Inline Markdown (emphasis, strikethrough, code spans, links) to Telegram HTML or plain text.
 * Emphasis follows CommonMark's delimiter-run rules, so `snake_case` and a lone `*` stay text and
 * every tag that opens also closes, properly nested.
 */
import { escapeHtml } from "./_html.ts";

type Tag = "b" | "i" | "s" | "a";

/** One piece of parsed inline text. */
type Token =
  | { t: "text"; v: string }
  | { t: "code"; v: string }
  | { t: "open"; tag: Tag; href?: string }
  | { t: "close"; tag: Tag; after?: string };

/** A run of `*`, `_` or `~~` that may open or close emphasis (CommonMark's delimiter run). */
interface Delimiter {
  t: "delim";
  ch: string;
  /** Characters not yet used by a match; they render as text. */
  count: number;
  /** The run's length in the source (for the "rule of 3"). */
  length: number;
  canOpen: boolean;
  canClose: boolean;
  active: boolean;
  /** Tags this run closes, innermost first, rendered before what is left of it. */
  closes: Tag[];
  /** Tags this run opens, outermost first, rendered after what is left of it. */
  opens: Tag[];
}

/** URL schemes kept as links; anything else is shown as text. */
const LINK_SCHEME = /^(?:https?:\/\/|tg:\/\/|mailto:)/i;
/** `<https://…>` and `<someone@example.com>`. */
const AUTOLINK =
  /^<(?:((?:https?:\/\/|tg:\/\/|mailto:)[^\s<>]+)|([^\s<>@]+@[^\s<>@]+\.[^\s<>@]+))>/i;
const MAX_LABEL = 1_000;
const ASCII_PUNCT = /[!-/:-@[-`{-~]/;
const PUNCT = /[\p{P}\p{S}]/u;
const SPACE = /\s/u;

/** Renders inline Markdown as Telegram HTML, or as plain text with link targets spelled out. */
export function renderInline(src: string, html: boolean): string {
  return render(parse(src, false), html);
}

function render(tokens: Token[], html: boolean): string {
  let out = "";
  for (const tok of tokens) {
    switch (tok.t) {
      case "text":
        out += html ? escapeHtml(tok.v) : tok.v;
        break;
      case "code":
        out += html ? `<code>${escapeHtml(tok.v)}</code>` : tok.v;
        break;
      case "open":
        if (html) out += tok.href ? `<a href="${escapeHtml(tok.href)}">` : `<${tok.tag}>`;
        break;
      case "close":
        out += html ? `</${tok.tag}>` : tok.after ?? "";
        break;
    }
  }
  return out;
}

/** Parses one inline context; inside a link label, links and code entities are not allowed. */
function parse(src: string, inLink: boolean): Token[] {
  const tokens: (Token | Delimiter)[] = [];
  let text = "";
  const flush = () => {
    if (text) tokens.push({ t: "text", v: text });
    text = "";
  };
  for (let i = 0; i < src.length;) {
    const c = src[i];
    if (c === "\\" && i + 1 < src.length && ASCII_PUNCT.test(src[i + 1])) {
      text += src[i + 1];
      i += 2;
    } else if (c === "\\" && src[i + 1] === "\n") {
      i++; // a hard line break; the newline itself is kept as text
    } else if (c === "`") {
      const run = runLength(src, i);
      const end = findCodeEnd(src, i + run, run);
      if (end < 0) {
        text += src.slice(i, i + run);
        i += run;
        continue;
      }
      let code = src.slice(i + run, end).replace(/\n/g, " ");
      if (/^ .*[^ ].* $/.test(code)) code = code.slice(1, -1);
      if (inLink) text += code;
      else {
        flush();
        tokens.push({ t: "code", v: code });
      }
      i = end + run;
    } else if ((c === "[" || (c === "!" && src[i + 1] === "[")) && !inLink) {
      const image = c === "!";
      const link = parseLink(src, image ? i + 1 : i);
      if (!link) {
        text += c;
        i++;
        continue;
      }
      flush();
      const label = link.label.trim() === "" ? [{ t: "text", v: link.url } as Token] : (
        image ? [{ t: "text", v: link.label } as Token] : parse(link.label, true)
      );
      tokens.push(...linkTokens(link.url, label));
      i = link.end;
    } else if (c === "<" && !inLink) {
      const auto = AUTOLINK.exec(src.slice(i, i + 2048));
      if (!auto) {
        text += c;
        i++;
        continue;
      }
      flush();
      const url = auto[1] ?? `mailto:${auto[2]}`;
      tokens.push(...linkTokens(url, [{ t: "text", v: auto[1] ?? auto[2] }]));
      i += auto[0].length;
    } else if (c === "*" || c === "_" || (c === "~" && runLength(src, i) === 2)) {
      flush();
      const run = runLength(src, i);
      tokens.push(delimiter(src, i, run));
      i += run;
    } else if (c === "~") {
      const run = runLength(src, i);
      text += src.slice(i, i + run);
      i += run;
    } else {
      text += c;
      i++;
    }
  }
  flush();
  processEmphasis(tokens);
  // Resolved here, so a link label's delimiters never pair with any outside the label.
  return tokens.flatMap((tok): Token[] =>
    tok.t !== "delim" ? [tok] : [
      ...tok.closes.map((tag): Token => ({ t: "close", tag })),
      ...(tok.count > 0 ? [{ t: "text", v: tok.ch.repeat(tok.count) } as Token] : []),
      ...tok.opens.map((tag): Token => ({ t: "open", tag })),
    ]
  );
}

/** A link with an allowed scheme becomes `<a>`; any other shows its label and target as text. */
function linkTokens(url: string, label: Token[]): Token[] {
  if (!LINK_SCHEME.test(url)) {
    const labelText = render(label, false);
    const target = url === "" || url === labelText ? [] : [{ t: "text", v: ` (${url})` } as Token];
    return [...label, ...target];
  }
  const shown = url.replace(/^mailto:/i, "");
  const plainLabel = render(label, false);
  const after = plainLabel === url || plainLabel === shown ? "" : ` (${shown})`;
  return [{ t: "open", tag: "a", href: url }, ...label, { t: "close", tag: "a", after }];
}

function runLength(src: string, i: number): number {
  let j = i;
  while (src[j] === src[i]) j++;
  return j - i;
}

/** Where the backtick run of exactly `run` characters that closes a code span starts, or -1. */
function findCodeEnd(src: string, from: number, run: number): number {
  for (let j = src.indexOf("`", from); j >= 0; j = src.indexOf("`", j)) {
    const len = runLength(src, j);
    if (len === run) return j;
    j += len;
  }
  return -1;
}

/** Parses `[label](url "title")` starting at `[`; null when it is not a link. */
function parseLink(src: string, i: number): { label: string; url: string; end: number } | null {
  let j = i + 1;
  // Labels are short; the bound keeps a reply full of unmatched "[" from taking quadratic time.
  const end = Math.min(src.length, i + MAX_LABEL);
  for (let depth = 0; j < end; j++) {
    const c = src[j];
    if (c === "\\") j++;
    else if (c === "`") {
      const run = runLength(src, j);
      const close = findCodeEnd(src, j + run, run);
      j = (close < 0 ? j : close) + run - 1;
    } else if (c === "[") depth++;
    else if (c === "]" && depth-- === 0) break;
  }
  if (j >= end || src[j + 1] !== "(") return null;
  const dest =
    /^\(\s*(?:<([^<>\n]*)>|((?:[^\s()\\]|\\.|\((?:[^\s()\\]|\\.)*\))*))(?:\s+(?:"[^"]*"|'[^']*'|\([^()]*\)))?\s*\)/
      .exec(src.slice(j + 1, j + 2049));
  if (!dest) return null;
  const url = (dest[1] ?? dest[2]).replace(/\\([!-/:-@[-`{-~])/g, "$1");
  return { label: src.slice(i + 1, j), url, end: j + 1 + dest[0].length };
}

/** The code point that ends just before `i`; line edges count as spaces, as in CommonMark. */
function charBefore(src: string, i: number): string {
  if (i === 0) return " ";
  const unit = src.charCodeAt(i - 1);
  const at = unit >= 0xdc00 && unit <= 0xdfff && i >= 2 ? i - 2 : i - 1;
  return String.fromCodePoint(src.codePointAt(at)!);
}

function charAt(src: string, i: number): string {
  return i >= src.length ? " " : String.fromCodePoint(src.codePointAt(i)!);
}

function delimiter(src: string, i: number, run: number): Delimiter {
  const prev = charBefore(src, i), next = charAt(src, i + run);
  const prevSpace = SPACE.test(prev), nextSpace = SPACE.test(next);
  const prevPunct = PUNCT.test(prev), nextPunct = PUNCT.test(next);
  const left = !nextSpace && (!nextPunct || prevSpace || prevPunct);
  const right = !prevSpace && (!prevPunct || nextSpace || nextPunct);
  const ch = src[i];
  const underscore = ch === "_";
  return {
    t: "delim",
    ch,
    count: run,
    length: run,
    canOpen: underscore ? left && (!right || prevPunct) : left,
    canClose: underscore ? right && (!left || nextPunct) : right,
    active: true,
    closes: [],
    opens: [],
  };
}

/** CommonMark's "process emphasis": pairs closers with the nearest fitting opener before them. */
function processEmphasis(tokens: (Token | Delimiter)[]): void {
  const delims = tokens.filter((t) => t.t === "delim");
  // Per kind of closer, the index below which no opener can be found (keeps this linear).
  const bottom = new Map<string, number>();
  for (let ci = 0; ci < delims.length;) {
    const closer = delims[ci];
    if (!closer.active || !closer.canClose || closer.count === 0) {
      ci++;
      continue;
    }
    const key = `${closer.ch}${closer.canOpen}${closer.length % 3}`;
    let oi = ci - 1;
    for (; oi > (bottom.get(key) ?? -1); oi--) {
      const o = delims[oi];
      if (!o.active || !o.canOpen || o.count === 0 || o.ch !== closer.ch) continue;
      if (closer.ch === "~") break;
      const both = o.canClose || closer.canOpen;
      const sum = o.length + closer.length;
      if (!both || sum % 3 !== 0 || (o.length % 3 === 0 && closer.length % 3 === 0)) break;
    }
    if (oi <= (bottom.get(key) ?? -1)) {
      bottom.set(key, ci - 1);
      if (!closer.canOpen) closer.active = false;
      ci++;
      continue;
    }
    const opener = delims[oi];
    const used = closer.ch === "~" || (opener.count >= 2 && closer.count >= 2) ? 2 : 1;
    const tag: Tag = closer.ch === "~" ? "s" : used === 2 ? "b" : "i";
    opener.count -= used;
    closer.count -= used;
    opener.opens.unshift(tag);
    closer.closes.push(tag);
    for (let k = oi + 1; k < ci; k++) delims[k].active = false;
    if (opener.count === 0) opener.active = false;
    if (closer.count === 0) {
      closer.active = false;
      ci++;
    }
  }
}
