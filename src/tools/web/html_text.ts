/**
 * HTML as readable text for the model, without a DOM: the title first, then the visible text with
 * blocks on their own lines, list items as "- ", short links as `text (url)`. Scripts, styles,
 * `<head>` and the like are dropped; entities are decoded; whitespace is collapsed except in
 * `<pre>`. A tolerant scanner, not a parser: broken markup degrades to slightly worse text.
 */

/** Options of {@linkcode htmlToText}. */
export interface HtmlTextOptions {
  /** The page's URL, to make relative links absolute. @default links kept as written */
  baseUrl?: string | URL;
  /** Longest link URL shown after its text; longer ones are left out. @default 200 */
  maxLinkLength?: number;
}

/** Elements whose content is never shown. */
const HIDDEN = [
  "script",
  "style",
  "noscript",
  "template",
  "svg",
  "math",
  "head",
  "iframe",
  "object",
  "canvas",
  "select",
  "title", // shown once, as the first line
];

/** Block elements that start a paragraph (a blank line) … */
const PARAGRAPH = new Set([
  "p",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "blockquote",
  "pre",
  "table",
  "ul",
  "ol",
  "dl",
  "section",
  "article",
  "aside",
  "header",
  "footer",
  "main",
  "nav",
  "figure",
  "form",
  "fieldset",
  "details",
  "hr",
  "address",
]);

/** … and those that start a line. */
const LINE = new Set([
  "div",
  "br",
  "li",
  "tr",
  "dt",
  "dd",
  "caption",
  "figcaption",
  "summary",
  "legend",
  "body",
  "html",
  "hgroup",
  "dialog",
  "option",
  "label",
  "center",
]);

/**
 * One start or end tag with its attributes. Names and unquoted values stop at "<", so a tag left
 * open ends its own match at the next tag instead of scanning the rest of the page (which made
 * pages of unclosed tags quadratic).
 */
const TAG =
  /<(\/?)([a-zA-Z][a-zA-Z0-9:-]*)((?:\s+[^\s"'<>\/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>]+))?)*)\s*\/?>/g;

/** The readable text of an HTML document, its `<title>` as the first line. */
export function htmlToText(html: string, options: HtmlTextOptions = {}): string {
  const maxLink = options.maxLinkLength ?? 200;
  // Scans stop at "<" where they can: a page of unclosed "<!" or "<title" stays linear.
  let src = html.replace(/<!--[\s\S]*?(?:-->|$)/g, " ") // comments, even unterminated
    .replace(/<!\[CDATA\[[\s\S]*?(?:\]\]>|$)/g, " ")
    .replace(/<![^<>]*>|<\?[^<>]*>/g, " "); // doctype, processing instructions
  const title = titleOf(src);
  src = dropHidden(src);

  const out = new TextBuilder();
  let pre = 0;
  let link: string | undefined;
  let last = 0;
  for (const m of src.matchAll(TAG)) {
    out.text(src.slice(last, m.index), pre > 0);
    last = m.index + m[0].length;
    const closing = m[1] === "/";
    const name = m[2].toLowerCase();
    if (name === "pre") pre = Math.max(0, pre + (closing ? -1 : 1));
    if (name === "a") {
      if (!closing) {
        link = attribute(m[3], "href");
        if (link !== undefined) out.startCapture();
      } else if (link !== undefined) {
        const url = linkTarget(link, options.baseUrl);
        const text = out.endCapture().trim();
        if (url && text && url.length <= maxLink && url !== text) out.inline(` (${url})`);
        link = undefined;
      }
      continue;
    }
    if (name === "img" && !closing) {
      const alt = collapse(decodeEntities(attribute(m[3], "alt") ?? "")).trim();
      if (alt) out.inline(`[${alt}]`);
      continue;
    }
    if ((name === "td" || name === "th") && !closing) {
      out.space();
      continue;
    }
    if (PARAGRAPH.has(name)) out.paragraph();
    else if (LINE.has(name)) out.line();
    if (closing) continue;
    if (name === "li") out.inline("- ");
    const heading = /^h([1-6])$/.exec(name);
    if (heading) out.inline(`${"#".repeat(Number(heading[1]))} `);
  }
  out.text(src.slice(last), pre > 0);
  const body = out.toString();
  return title && body ? `${title}\n\n${body}` : title || body;
}

const HIDDEN_OPEN = new RegExp(`<(${HIDDEN.join("|")})\\b[^<>]*>`, "gi");

/** The first `<title>`'s text, or "" when there is none (or it is never closed). */
function titleOf(src: string): string {
  const open = /<title\b[^<>]*>/i.exec(src);
  if (!open) return "";
  const from = open.index + open[0].length;
  const close = /<\/title\s*>/gi;
  close.lastIndex = from;
  const c = close.exec(src);
  return c ? collapse(decodeEntities(src.slice(from, c.index))).trim() : "";
}

/** Removes hidden elements with their content; an unclosed one hides the rest of the page. */
function dropHidden(src: string): string {
  const kept: string[] = [];
  const unclosed = new Set<string>(); // names with no end tag further on: never search again
  let at = 0;
  const open = new RegExp(HIDDEN_OPEN);
  for (let m = open.exec(src); m; m = open.exec(src)) {
    kept.push(src.slice(at, m.index), " ");
    let end = m.index + m[0].length;
    if (!m[0].endsWith("/>")) { // <svg … /> has nothing inside
      const name = m[1].toLowerCase();
      const close = new RegExp(`</${name}\\s*>`, "gi");
      close.lastIndex = end;
      const c = unclosed.has(name) ? null : close.exec(src);
      if (!c) unclosed.add(name);
      // Pages often leave </head> out; only the tag goes then, not the whole body.
      end = c ? c.index + c[0].length : name === "head" ? end : src.length;
    }
    at = open.lastIndex = end;
  }
  kept.push(src.slice(at));
  return kept.join("").replace(/<\/?(?:meta|link|base)\b[^<>]*>/gi, " ");
}

/** Collects text with pending line breaks, so blocks never leave runs of blank lines. */
class TextBuilder {
  #parts: string[] = [];
  /** 0 none, 1 new line, 2 blank line, before the next text. */
  #pending = 0;
  #atLineStart = true;

  /** Text written while capturing (a link's text), so links need no rescans. */
  #capture: string[] | undefined;

  startCapture(): void {
    this.#capture = [];
  }

  /** The text written since `startCapture`. */
  endCapture(): string {
    const text = this.#capture?.join("") ?? "";
    this.#capture = undefined;
    return text;
  }

  /** One space between inline runs (table cells), never at the start of a line. */
  space(): void {
    if (this.#pending || this.#atLineStart || this.#parts.at(-1)?.endsWith(" ")) return;
    this.#write(" ");
  }

  text(raw: string, preformatted: boolean): void {
    if (raw === "") return;
    const decoded = decodeEntities(raw);
    if (preformatted) {
      this.#write(decoded.replace(/\r\n?/g, "\n"));
      return;
    }
    let t = collapse(decoded);
    if (this.#atLineStart || this.#pending) t = t.trimStart();
    if (t === "") return;
    if (t.startsWith(" ") && this.#parts.at(-1)?.endsWith(" ")) t = t.slice(1);
    this.#write(t);
  }

  inline(t: string): void {
    this.#write(t);
  }

  line(): void {
    if (this.#parts.length) this.#pending = Math.max(this.#pending, 1);
  }

  paragraph(): void {
    if (this.#parts.length) this.#pending = 2;
  }

  #write(t: string): void {
    if (this.#pending) {
      this.#trimLineEnd();
      this.#parts.push("\n".repeat(this.#pending));
      this.#pending = 0;
    }
    this.#parts.push(t);
    this.#capture?.push(t);
    this.#atLineStart = t.endsWith("\n");
  }

  #trimLineEnd(): void {
    const last = this.#parts.at(-1);
    if (last === undefined) return;
    this.#parts[this.#parts.length - 1] = last.replace(/[ \t]+$/, "");
  }

  toString(): string {
    return this.#parts.join("")
      .split("\n").map((l) => l.trimEnd()).join("\n")
      .replace(/\n{3,}/g, "\n\n")
      .trim();
  }
}

function collapse(text: string): string {
  return text.replace(/\s+/g, " "); // \s includes the no-break space
}

/** One attribute's decoded value from a tag's attribute text. */
function attribute(attrs: string, name: string): string | undefined {
  const re = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s"'>]+))`, "i");
  const m = re.exec(attrs);
  if (!m) return undefined;
  return decodeEntities(m[1] ?? m[2] ?? m[3] ?? "").trim();
}

/** A link's absolute http(s) URL, or undefined for fragments, `javascript:`, `mailto:` …. */
function linkTarget(href: string, base: string | URL | undefined): string | undefined {
  if (href === "" || href.startsWith("#")) return undefined;
  try {
    const url = new URL(href, base);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

const NAMED: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
  ensp: " ",
  emsp: " ",
  thinsp: " ",
  shy: "",
  zwj: "",
  zwnj: "",
  copy: "©",
  reg: "®",
  trade: "™",
  hellip: "…",
  mdash: "—",
  ndash: "–",
  minus: "−",
  lsquo: "‘",
  rsquo: "’",
  sbquo: "‚",
  ldquo: "“",
  rdquo: "”",
  bdquo: "„",
  laquo: "«",
  raquo: "»",
  lsaquo: "‹",
  rsaquo: "›",
  bull: "•",
  middot: "·",
  dagger: "†",
  prime: "′",
  euro: "€",
  pound: "£",
  yen: "¥",
  cent: "¢",
  curren: "¤",
  sect: "§",
  para: "¶",
  deg: "°",
  plusmn: "±",
  times: "×",
  divide: "÷",
  frac12: "½",
  frac14: "¼",
  frac34: "¾",
  sup2: "²",
  sup3: "³",
  micro: "µ",
  larr: "←",
  rarr: "→",
  uarr: "↑",
  darr: "↓",
  harr: "↔",
  rArr: "⇒",
  le: "≤",
  ge: "≥",
  ne: "≠",
  asymp: "≈",
  infin: "∞",
  check: "✓",
  iexcl: "¡",
  iquest: "¿",
  auml: "ä",
  ouml: "ö",
  uuml: "ü",
  Auml: "Ä",
  Ouml: "Ö",
  Uuml: "Ü",
  szlig: "ß",
  eacute: "é",
  egrave: "è",
  ecirc: "ê",
  aacute: "á",
  agrave: "à",
  acirc: "â",
  iacute: "í",
  oacute: "ó",
  uacute: "ú",
  ntilde: "ñ",
  ccedil: "ç",
  Eacute: "É",
  oslash: "ø",
  aring: "å",
  aelig: "æ",
};

/** Decodes numeric references and the common named ones; unknown names stay as written. */
export function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(/&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,7})|([a-zA-Z][a-zA-Z0-9]{1,31}));/g, (
    whole,
    dec,
    hex,
    name,
  ) => {
    if (name !== undefined) return NAMED[name] ?? NAMED[name.toLowerCase()] ?? whole;
    const code = dec !== undefined ? parseInt(dec, 10) : parseInt(hex, 16);
    if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return "\ufffd";
    return String.fromCodePoint(code);
  });
}
