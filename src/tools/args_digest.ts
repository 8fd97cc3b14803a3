/**
 * Digests that bind an approval to a call: SHA-256 over a canonical JSON form (object keys
 * sorted), so the same arguments always give the same digest and any other content another.
 */

/** The SHA-256 of a text, as lower-case hex. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The digest of a call's whole checked arguments (`write`'s content, `message`'s text, …). */
export function argsDigest(args: unknown): Promise<string> {
  return sha256Hex(canonicalJson(args));
}

/** JSON with object keys in sorted order at every depth; `undefined` members left out. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
