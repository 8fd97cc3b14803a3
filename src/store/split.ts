/**
 * Long texts as KV values: cut into UTF-8 parts that each fit a Deno KV value, and truncated when
 * they would need more parts than one entry may have.
 *
 * Short texts stay strings. Long ones are stored as UTF-8 bytes because Deno KV writes strings
 * through V8's serializer, whose size depends on V8's internal representation: a slice of a string
 * that once held a "€" is stored as UTF-16 even when the slice is plain ASCII, so a string's stored
 * size cannot be bounded below 2 bytes per code unit. Bytes cost exactly their length.
 */

/** Most UTF-8 bytes in one part. */
export const PART_BYTES = 48 * 1024;

/** Most parts one text may take; past it the text is truncated. */
export const MAX_PARTS = 8;

/**
 * Longest text (in UTF-16 code units) kept as a plain string: even stored as UTF-16 it stays far
 * under the 64 KiB value limit.
 */
export const MAX_STRING_UNITS = 16 * 1024;

/** A long text cut into parts. */
export interface SplitText {
  /** UTF-8 slices cut at character boundaries, in order; at most {@linkcode MAX_PARTS}. */
  parts: Uint8Array[];
  /** UTF-8 bytes dropped from the end (0 unless the text was too long); the last part then ends with a marker. */
  truncatedBytes: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The visible marker that ends a truncated text. */
export function truncationMarker(droppedBytes: number): string {
  return `\n[… truncated ${droppedBytes} bytes by the gateway]`;
}

/** UTF-8 length of a string, without encoding it (a lone surrogate counts as U+FFFD, 3 bytes). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** The largest end ≤ `limit` that does not cut a UTF-8 sequence (continuation bytes are 0b10xxxxxx). */
function boundary(bytes: Uint8Array, limit: number): number {
  let end = Math.min(limit, bytes.length);
  while (end < bytes.length && end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return end;
}

/**
 * Cuts `text` into at most {@linkcode MAX_PARTS} UTF-8 parts of at most {@linkcode PART_BYTES}
 * each, truncating with {@linkcode truncationMarker} what does not fit. Lone surrogates become
 * U+FFFD, as in any UTF-8 encoding.
 */
export function splitText(text: string): SplitText {
  const bytes = encoder.encode(text);
  const parts: Uint8Array[] = [];
  let start = 0;
  while (start < bytes.length && parts.length < MAX_PARTS) {
    const end = boundary(bytes, start + PART_BYTES);
    parts.push(bytes.slice(start, end)); // a copy: a view would carry the whole buffer into KV
    start = end;
  }
  if (start >= bytes.length) return { parts, truncatedBytes: 0 };

  // Too long: redo the last part with room for the marker. The marker is sized for the whole
  // length first, which has at least as many digits as the bytes finally dropped.
  const lastStart = start - parts.pop()!.length;
  const room = PART_BYTES - utf8Length(truncationMarker(bytes.length));
  const end = boundary(bytes, lastStart + room);
  const truncatedBytes = bytes.length - end;
  const marker = encoder.encode(truncationMarker(truncatedBytes));
  const last = new Uint8Array(end - lastStart + marker.length);
  last.set(bytes.subarray(lastStart, end));
  last.set(marker, end - lastStart);
  parts.push(last);
  return { parts, truncatedBytes };
}

/** The text of parts made by {@linkcode splitText}. */
export function joinText(parts: Uint8Array[]): string {
  if (parts.length === 1) return decoder.decode(parts[0]);
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    whole.set(p, at);
    at += p.length;
  }
  return decoder.decode(whole);
}
