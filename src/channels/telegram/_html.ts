/**
 * The small part of Telegram's HTML parse mode the formatter needs: escaping, and reading HTML
 * back as the units Telegram sees (tags, entities, visible characters), to measure and split it.
 */

/** Escapes text for Telegram HTML; `"` too, so the result is safe inside an attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ESCAPES[c]);
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
const NAMED: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"' };

/** One piece of an HTML string: a tag, or text as Telegram will show it. */
export type HtmlUnit =
  | { kind: "open"; raw: string; name: string }
  | { kind: "close"; raw: string; name: string }
  | { kind: "text"; raw: string; text: string };

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** Splits text into user-perceived characters, so no cut lands inside an emoji or a pair. */
export function splitGraphemes(text: string): string[] {
  return Array.from(graphemes.segment(text), (s) => s.segment);
}

/**
 * Reads Telegram HTML as units. Text comes as graphemes (entity references as the character they
 * stand for), so a cut between two units never splits a tag, a reference or a surrogate pair.
 * A `<` that starts no tag is read as text, as Telegram would reject it anyway.
 */
export function htmlUnits(html: string): HtmlUnit[] {
  const units: HtmlUnit[] = [];
  const tag = /<(\/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*>|&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/gy;
  let text = "";
  const flush = () => {
    for (const g of splitGraphemes(text)) units.push({ kind: "text", raw: g, text: g });
    text = "";
  };
  for (let i = 0; i < html.length;) {
    tag.lastIndex = i;
    const m = html[i] === "<" || html[i] === "&" ? tag.exec(html) : null;
    if (m === null) {
      text += html[i++];
      continue;
    }
    flush();
    if (m[2] !== undefined) {
      units.push({ kind: m[1] ? "close" : "open", raw: m[0], name: m[2].toLowerCase() });
    } else {
      units.push({ kind: "text", raw: m[0], text: decodeReference(m[3]) ?? m[0] });
    }
    i += m[0].length;
  }
  flush();
  return units;
}

function decodeReference(ref: string): string | undefined {
  if (!ref.startsWith("#")) return NAMED[ref];
  const code = ref[1] === "x" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
  return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : undefined;
}

/** The text Telegram shows for `html`: tags dropped, entity references decoded. */
export function htmlToPlainText(html: string): string {
  let out = "";
  for (const u of htmlUnits(html)) if (u.kind === "text") out += u.text;
  return out;
}

/**
 * How long Telegram counts `html` to be, in UTF-16 code units of its visible text (Telegram
 * counts characters; code units are never fewer, so this errs on the safe side).
 */
export function visibleLength(html: string): number {
  return htmlToPlainText(html).length;
}
