/**
 * Telegram's text formatting as the fake Bot API applies it: the HTML parse mode (a port of TDLib's
 * `parse_html`, so the same inputs fail with the same "can't parse entities" messages), the
 * trimming the API does to every message text, and the entities Telegram detects in what users type.
 */
import type { MessageEntity } from "./telegram_api.ts";

/** A message text as Telegram stores it: plain text plus entities (offsets in UTF-16 units). */
export interface Formatted {
  text: string;
  entities: MessageEntity[];
}

/** Parsed text and its entities, or what the real API says is wrong with the markup. */
export type Parsed = Formatted | { error: string };

const TAGS = new Set([
  "a",
  "b",
  "strong",
  "i",
  "em",
  "s",
  "strike",
  "del",
  "u",
  "ins",
  "tg-spoiler",
  "tg-emoji",
  "span",
  "pre",
  "code",
  "blockquote",
]);

const encoder = new TextEncoder();
/** Error offsets are in UTF-8 bytes, as TDLib counts them. */
const byteOffset = (s: string, index: number) => encoder.encode(s.slice(0, index)).length;
// TDLib's is_space also matches the terminating NUL, which is how "unclosed" tags are found.
const isSpace = (c: string) => " \t\r\n\v\f\0".includes(c);
const isAlpha = (c: string) => /^[A-Za-z]$/.test(c);
const isNameToken = (c: string) => /^[A-Za-z0-9.-]$/.test(c);

/** Decodes `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric references; null leaves `&` as text. */
function decodeEntity(s: string, pos: number): { char: string; end: number } | null {
  const at = (k: number) => (k < s.length ? s[k] : "\0");
  let end = pos + 1;
  let code = 0;
  if (at(end) === "#") {
    end++;
    const hex = at(end) === "x";
    if (hex) end++;
    const digit = hex ? /^[0-9a-fA-F]$/ : /^[0-9]$/;
    while (digit.test(at(end))) code = code * (hex ? 16 : 10) + parseInt(s[end++], 16);
    if (code === 0 || code >= 0x10ffff || end - pos >= 10) return null;
  } else {
    while (isAlpha(at(end))) end++;
    const named: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"' };
    const char = named[s.slice(pos + 1, end)];
    if (char === undefined) return null;
    code = char.codePointAt(0)!;
  }
  if (at(end) === ";") end++;
  return { char: String.fromCodePoint(code), end };
}

interface Open {
  tag: string;
  argument: string;
  /** Where the entity starts in the output text, in UTF-16 code units. */
  offset: number;
}

/**
 * Parses `html` as Telegram's HTML parse mode does. Errors are worded like TDLib's; the Bot API
 * sends them as `Bad Request: can't parse entities: <error>`.
 */
export function parseHtml(html: string): Parsed {
  const at = (k: number) => (k < html.length ? html[k] : "\0");
  const fail = (error: string): Parsed => ({ error });
  let text = "";
  const entities: MessageEntity[] = [];
  const open: Open[] = [];

  for (let i = 0; i < html.length; i++) {
    const c = html[i];
    if (c === "&") {
      const decoded = decodeEntity(html, i);
      if (decoded) {
        text += decoded.char;
        i = decoded.end - 1;
        continue;
      }
    }
    if (c !== "<") {
      text += c;
      continue;
    }

    const begin = i++;
    const where = () => `at byte offset ${byteOffset(html, begin)}`;
    if (at(i) !== "/") {
      while (!isSpace(at(i)) && at(i) !== ">") i++;
      if (at(i) === "\0") return fail(`Unclosed start tag ${where()}`);
      const tag = html.slice(begin + 1, i).toLowerCase();
      if (!TAGS.has(tag)) return fail(`Unsupported start tag "${tag}" ${where()}`);

      let argument = "";
      while (at(i) !== ">") {
        while (at(i) !== "\0" && isSpace(at(i))) i++;
        if (at(i) === ">") break;
        const nameStart = i;
        while (!isSpace(at(i)) && at(i) !== "=") i++;
        const name = html.slice(nameStart, i);
        if (name === "") return fail(`Empty attribute name in the tag "${tag}" ${where()}`);
        while (at(i) !== "\0" && isSpace(at(i))) i++;
        if (at(i) !== "=") {
          return fail(
            `Expected equal sign in declaration of an attribute of the tag "${tag}" ${where()}`,
          );
        }
        i++;
        while (at(i) !== "\0" && isSpace(at(i))) i++;
        if (at(i) === "\0") return fail(`Unclosed start tag "${tag}" ${where()}`);

        let value = "";
        if (at(i) !== "'" && at(i) !== '"') {
          const tokenStart = i;
          while (isNameToken(at(i))) i++;
          value = html.slice(tokenStart, i).toLowerCase();
          if (!isSpace(at(i)) && at(i) !== ">") {
            return fail(
              `Unexpected end of name token at byte offset ${byteOffset(html, tokenStart)}`,
            );
          }
        } else {
          const quote = html[i++];
          while (at(i) !== quote && at(i) !== "\0") {
            const decoded = at(i) === "&" ? decodeEntity(html, i) : null;
            if (decoded) {
              value += decoded.char;
              i = decoded.end;
            } else value += html[i++];
          }
          if (at(i) === quote) i++;
        }
        if (at(i) === "\0") return fail(`Unclosed start tag ${where()}`);

        if (tag === "a" && name === "href") argument = value;
        else if (tag === "code" && name === "class" && value.startsWith("language-")) {
          argument = value.slice(9);
        } else if (tag === "span" && name === "class" && value.startsWith("tg-")) {
          argument = value.slice(3);
        } else if (tag === "tg-emoji" && name === "emoji-id") argument = value;
      }
      if (tag === "span" && argument !== "spoiler") {
        return fail(`Tag "span" must have class "tg-spoiler" ${where()}`);
      }
      open.push({ tag, argument, offset: text.length });
      continue;
    }

    if (open.length === 0) return fail(`Unexpected end tag ${where()}`);
    while (!isSpace(at(i)) && at(i) !== ">") i++;
    const endTag = html.slice(begin + 2, i).toLowerCase();
    while (isSpace(at(i)) && at(i) !== "\0") i++;
    if (at(i) !== ">") return fail(`Unclosed end tag ${where()}`);
    const top = open.at(-1)!;
    if (endTag !== "" && endTag !== top.tag) {
      return fail(`Unmatched end tag ${where()}, expected "</${top.tag}>", found "</${endTag}>"`);
    }
    open.pop();
    const length = text.length - top.offset;
    if (length === 0) continue;
    const entity = toEntity(top, length, text.slice(top.offset));
    if (typeof entity === "string") return fail(entity);
    if (entity) entities.push(entity);
  }
  if (open.length) return fail(`Can't find end tag corresponding to start tag ${open.at(-1)!.tag}`);
  return { text, entities: sortEntities(mergePreCode(entities)) };
}

/** The entity a closed tag makes; a string is an error, null is no entity (an unusable link). */
function toEntity(tag: Open, length: number, inner: string): MessageEntity | string | null {
  const { offset, argument } = tag;
  switch (tag.tag) {
    case "b":
    case "strong":
      return { type: "bold", offset, length };
    case "i":
    case "em":
      return { type: "italic", offset, length };
    case "u":
    case "ins":
      return { type: "underline", offset, length };
    case "s":
    case "strike":
    case "del":
      return { type: "strikethrough", offset, length };
    case "tg-spoiler":
    case "span":
      return { type: "spoiler", offset, length };
    case "blockquote":
      return { type: "blockquote", offset, length };
    case "pre":
      return { type: "pre", offset, length };
    case "code":
      // The language is kept only until the enclosing <pre> closes (see mergePreCode).
      return { type: "code", offset, length, ...(argument ? { language: argument } : {}) };
    case "tg-emoji":
      if (!/^[1-9][0-9]*$/.test(argument)) return "Invalid custom emoji identifier specified";
      return { type: "custom_emoji", offset, length, custom_emoji_id: argument };
    case "a": {
      const url = argument || inner;
      const user = /^tg:\/\/user\?id=(\d+)$/.exec(url);
      if (user) {
        return {
          type: "text_mention",
          offset,
          length,
          user: { id: Number(user[1]), is_bot: false, first_name: "" },
        };
      }
      const checked = checkLink(url);
      return checked ? { type: "text_link", offset, length, url: checked } : null;
    }
  }
  return null;
}

/** What Telegram keeps of a link: http(s) and tg links, with `http://` added when no scheme. */
function checkLink(url: string): string | null {
  const trimmed = url.trim();
  if (trimmed === "") return null;
  const withScheme = /^[a-z][a-z0-9+.-]*:/i.test(trimmed) ? trimmed : `http://${trimmed}`;
  try {
    const parsed = new URL(withScheme);
    if (!["http:", "https:", "tg:", "ton:"].includes(parsed.protocol)) return null;
    return parsed.protocol === "tg:" ? withScheme : parsed.href;
  } catch {
    return null;
  }
}

/** `<pre><code class="language-x">` becomes one `pre` entity with a language, as in TDLib. */
function mergePreCode(entities: MessageEntity[]): MessageEntity[] {
  const out: MessageEntity[] = [];
  for (const e of entities) {
    const prev = out.at(-1);
    const language = (prev as { language?: string } | undefined)?.language;
    if (
      e.type === "pre" && prev?.type === "code" && language &&
      prev.offset === e.offset && prev.length === e.length
    ) {
      out[out.length - 1] = { type: "pre", offset: e.offset, length: e.length, language };
    } else out.push(e);
  }
  // A <code> outside <pre> never carries a language.
  return out.map((e) =>
    e.type === "code" ? { type: "code", offset: e.offset, length: e.length } : e
  );
}

/** Entities ordered as the API returns them: by offset, longer first. */
export function sortEntities(entities: MessageEntity[]): MessageEntity[] {
  return entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
}

/**
 * Strips leading and trailing whitespace as Telegram does for every message text, moving and
 * clipping entities to match (entities left empty are dropped).
 */
export function trimFormatted(text: string, entities: MessageEntity[]): Formatted {
  const lead = text.length - text.trimStart().length;
  const trimmed = text.trim();
  const kept: MessageEntity[] = [];
  for (const e of entities) {
    const start = Math.max(0, e.offset - lead);
    const end = Math.min(trimmed.length, e.offset + e.length - lead);
    if (end > start) kept.push({ ...e, offset: start, length: end - start });
  }
  return { text: trimmed, entities: kept };
}

/**
 * The entities Telegram's clients and servers mark in what a user types: bot commands
 * (`/start`, `/help@bot`), @mentions and http(s) links.
 */
export function detectEntities(text: string): MessageEntity[] {
  const found: MessageEntity[] = [];
  const patterns: [RegExp, MessageEntity["type"]][] = [
    [/(?<![\w/])\/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?/g, "bot_command"],
    [/(?<![\w@])@[A-Za-z0-9_]{4,32}/g, "mention"],
    [/\bhttps?:\/\/[^\s<>"]+/g, "url"],
  ];
  for (const [re, type] of patterns) {
    for (const m of text.matchAll(re)) {
      found.push({ type, offset: m.index, length: m[0].length } as MessageEntity);
    }
  }
  return sortEntities(found);
}
