/** The gateway token: generated on first start into `<home>/token` (mode 0600), or read from an env var. */
import { dirname } from "node:path";

/** Makes sure a token file exists; returns its token. */
export async function ensureTokenFile(path: string): Promise<string> {
  try {
    return await readTokenFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return await writeTokenFile(path, { createNew: true });
}

/** Reads a token file, refusing an empty one. */
export async function readTokenFile(path: string): Promise<string> {
  const token = (await Deno.readTextFile(path)).trim();
  if (!token) throw new Error(`token file ${path} is empty: run \`gatehouse token --rotate\``);
  return token;
}

/** Writes a fresh random token with mode 0600 and returns it. */
export async function writeTokenFile(
  path: string,
  options: { createNew?: boolean } = {},
): Promise<string> {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const token = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, token + "\n", { mode: 0o600 });
  await Deno.chmod(tmp, 0o600).catch(() => {}); // mode is ignored on Windows; umask may widen it elsewhere
  if (options.createNew) {
    try {
      await Deno.link(tmp, path);
    } catch (err) {
      await Deno.remove(tmp);
      if (err instanceof Deno.errors.AlreadyExists) return await readTokenFile(path);
      throw err;
    }
    await Deno.remove(tmp);
  } else {
    await Deno.rename(tmp, path);
  }
  return token;
}

/** The token the gateway checks against; picks up a rotated token file without a restart. */
export class TokenSource {
  #token = "";
  #mtime = -1;

  constructor(readonly source: { file: string } | { env: string; value: string }) {
    if ("value" in source) this.#token = source.value;
  }

  /** The current token. */
  async current(): Promise<string> {
    if (!("file" in this.source)) return this.#token;
    const stat = await Deno.stat(this.source.file);
    const mtime = stat.mtime?.getTime() ?? 0;
    if (mtime !== this.#mtime) {
      this.#token = await readTokenFile(this.source.file);
      this.#mtime = mtime;
    }
    return this.#token;
  }
}

const encoder = new TextEncoder();
const digest = async (s: string) =>
  new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(s)));

/**
 * Compares two secrets in constant time: both are hashed first, so the comparison takes as long
 * whatever the inputs, their lengths and where they differ. (WebCrypto rather than node:crypto,
 * which costs the gateway megabytes of memory to load.)
 */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
