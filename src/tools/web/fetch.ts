/**
 * `web_fetch`: GET one http(s) URL and return its readable text. Every hop (the URL and each
 * redirect) passes the SSRF guard first; redirects are followed by hand so none skips it. The body
 * is read as a stream up to a byte cap, the whole call has a time cap, and the answer is text:
 * HTML made readable, other text as it is, binary content only described.
 */
import { z } from "zod";
import type { Tool, ToolOutput } from "../../kernel/mod.ts";
import { checkUrl, type Resolver, systemResolver, type UrlPolicy } from "./guard.ts";
import { htmlToText } from "./html_text.ts";

export { webFetchNeeds } from "./needs.ts";

/** What web_fetch is built from (`tools.web_fetch`, resolved). */
export interface WebFetchDeps {
  policy: UrlPolicy;
  /** Largest body read; the rest is cut with a note. */
  maxBytes: number;
  /** Most characters of text returned (the model may ask for fewer). */
  maxChars: number;
  /** Time for the whole call, redirects included. */
  timeoutMs: number;
  /** Redirects followed before giving up. */
  maxRedirects: number;
  /** Name lookup for the guard. @default systemResolver (getaddrinfo + Deno.resolveDns) */
  resolve?: Resolver;
  /** The HTTP client. @default globalThis.fetch */
  fetch?: typeof fetch;
}

const params = z.object({
  url: z.string().min(1).max(8192).describe("Absolute http:// or https:// URL to fetch"),
  max_chars: z.number().int().min(1).optional().describe(
    "Most characters of text to return; omit for the configured limit",
  ),
}).strict();

/** Sent on every request; nothing else identifies the gateway or its user. */
export const USER_AGENT = "Gatehouse/0.1 (+web_fetch)";

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Creates the tool. */
export function webFetchTool(deps: WebFetchDeps): Tool<typeof params> {
  const resolve = deps.resolve ?? systemResolver;
  return {
    name: "web_fetch",
    description: "Fetches a public web page or file over http(s) (GET) and returns its text: " +
      "HTML as readable text, JSON and other text as is. Local and private addresses are refused.",
    params,
    group: "web",
    async run({ url, max_chars }, ctx) {
      const limit = Math.min(max_chars ?? deps.maxChars, deps.maxChars);
      const timeout = AbortSignal.timeout(deps.timeoutMs);
      const signal = AbortSignal.any([ctx.signal, timeout]);
      try {
        return await fetchPage(url, limit, signal, deps, resolve);
      } catch (err) {
        if (timeout.aborted && !ctx.signal.aborted) {
          throw new Error(
            `${shown(url)} took longer than ${deps.timeoutMs / 1000} s ` +
              `(tools.web_fetch.timeout_seconds) and was stopped: try again later or another URL`,
          );
        }
        throw err;
      }
    },
  };
}

/** `promise`, or the signal's reason as soon as it aborts (for resolvers that ignore it). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

async function fetchPage(
  url: string,
  limit: number,
  signal: AbortSignal,
  deps: WebFetchDeps,
  resolve: Resolver,
): Promise<ToolOutput> {
  const doFetch = deps.fetch ?? fetch;
  let current = url;
  let from: string | undefined;
  for (let hop = 0;; hop++) {
    // The guard runs on every hop: a redirect is a new URL the model did not choose.
    const check = await checkUrl(
      current,
      deps.policy,
      (host) => untilAborted(resolve(host, signal), signal),
    );
    signal.throwIfAborted();
    if (!check.allow) {
      throw new Error(
        from
          ? `${from} redirected to ${shown(current)}, which is refused: ${check.reason}`
          : `cannot fetch ${shown(current)}: ${check.reason}`,
      );
    }
    const target = check.url;
    target.hash = "";
    let res: Response;
    try {
      res = await doFetch(target.href, {
        method: "GET",
        redirect: "manual",
        credentials: "omit",
        signal,
        headers: {
          "user-agent": USER_AGENT,
          accept: "text/html,application/xhtml+xml,application/json;q=0.9,text/*;q=0.8,*/*;q=0.5",
        },
      });
    } catch (err) {
      signal.throwIfAborted();
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`could not fetch ${target.href}: ${why}`);
    }
    const location = res.headers.get("location");
    if (REDIRECTS.has(res.status) && location !== null) {
      await res.body?.cancel();
      let next: URL;
      try {
        next = new URL(location, target);
      } catch {
        throw new Error(`${target.href} redirected to an invalid URL "${location.slice(0, 200)}"`);
      }
      if (hop >= deps.maxRedirects) {
        throw new Error(
          `too many redirects: ${shown(url)} redirected more than ${deps.maxRedirects} times ` +
            `(tools.web_fetch.max_redirects), the last one to ${shown(next.href)}; ` +
            `fetch the final URL directly if you know it`,
        );
      }
      from = target.href;
      current = next.href;
      continue;
    }
    return await render(res, target, limit, deps.maxBytes, signal);
  }
}

/** The answer for a final response: `URL:` and `Status:` lines, then the text. */
async function render(
  res: Response,
  url: URL,
  limit: number,
  maxBytes: number,
  signal: AbortSignal,
): Promise<ToolOutput> {
  const type = mediaType(res.headers.get("content-type"));
  const length = res.headers.get("content-length")?.trim() ?? "";
  const declared = /^\d{1,15}$/.test(length) ? Number(length) : NaN;
  let text: string;
  let cut = false;
  if (kindOf(type.essence) === "binary" && Number.isSafeInteger(declared)) {
    await res.body?.cancel(); // described, not read
    text = binaryNote(type.essence, `${declared} bytes`);
  } else {
    const body = await readCapped(res, maxBytes, signal);
    cut = body.cut;
    let kind = kindOf(type.essence);
    if (kind === "unknown") kind = sniff(body.bytes);
    if (kind === "binary") {
      text = binaryNote(type.essence, `${cut ? "more than " : ""}${body.bytes.length} bytes`);
      cut = false;
    } else {
      const decoded = decode(
        body.bytes,
        type.charset ?? (kind === "html" ? metaCharset(body.bytes) : undefined),
      );
      text = kind === "html"
        ? htmlToText(decoded, { baseUrl: url })
        : decoded.replace(/\r\n?/g, "\n");
    }
  }
  const parts = [`URL: ${url.href}`, `Status: ${res.status}`, "", capText(text, limit)];
  if (cut) {
    parts.push(
      `\n[… the response is longer than ${maxBytes} bytes (tools.web_fetch.max_bytes): ` +
        `only the first ${maxBytes} were read]`,
    );
  }
  const content = parts.join("\n");
  return res.ok ? { content } : { content, isError: true };
}

/** Reads at most `maxBytes` of the body, then stops the download. */
async function readCapped(
  res: Response,
  maxBytes: number,
  signal: AbortSignal,
): Promise<{ bytes: Uint8Array; cut: boolean }> {
  if (!res.body) return { bytes: new Uint8Array(), cut: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let cut = false;
  try {
    while (true) {
      signal.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.length > maxBytes) {
        chunks.push(value.subarray(0, maxBytes - size));
        size = maxBytes;
        cut = true;
        break;
      }
      chunks.push(value);
      size += value.length;
    }
  } finally {
    if (cut || signal.aborted) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { bytes, cut };
}

type Kind = "html" | "text" | "binary" | "unknown";

function kindOf(essence: string): Kind {
  if (essence === "") return "unknown";
  if (essence === "text/html" || essence === "application/xhtml+xml") return "html";
  if (essence.startsWith("text/")) return "text";
  if (/^application\/(?:[\w.-]+\+)?(?:json|xml)$/.test(essence)) return "text";
  if (
    /^application\/(?:javascript|ecmascript|x-javascript|x-ndjson|x-yaml|yaml|toml|x-toml|sql|graphql|x-www-form-urlencoded|x-sh|x-httpd-php)$/
      .test(essence)
  ) return "text";
  return "binary";
}

/** A body without a content type: HTML, text (valid UTF-8, no NUL) or binary. */
function sniff(bytes: Uint8Array): Kind {
  const head = bytes.subarray(0, 1024);
  if (head.includes(0)) return "binary";
  const start = new TextDecoder().decode(head).trimStart().slice(0, 15).toLowerCase();
  if (start.startsWith("<!doctype html") || start.startsWith("<html")) return "html";
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, 4096), { stream: true });
    return "text";
  } catch {
    return "binary";
  }
}

function binaryNote(essence: string, size: string): string {
  return `binary content (${essence || "unknown type"}, ${size}) not shown`;
}

function mediaType(header: string | null): { essence: string; charset?: string } {
  if (!header) return { essence: "" };
  const [essence, ...rest] = header.split(";");
  const charset = rest.map((p) => /^\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(p)?.[1]).find(Boolean);
  return { essence: essence.trim().toLowerCase(), charset };
}

/** `<meta charset>` or `<meta http-equiv … charset=…>` in the first KiB, as browsers look. */
function metaCharset(bytes: Uint8Array): string | undefined {
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, 1024));
  return /<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)/i.exec(head)?.[1];
}

/** Text in `charset` (UTF-8 when unknown); a character cut by the byte cap is dropped. */
function decode(bytes: Uint8Array, charset: string | undefined): string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset ?? "utf-8");
  } catch {
    decoder = new TextDecoder("utf-8");
  }
  return decoder.decode(bytes, { stream: true });
}

function capText(text: string, limit: number): string {
  if (text === "") return "(empty body)";
  if (text.length <= limit) return text;
  let end = limit;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--; // do not split a surrogate pair
  return `${text.slice(0, end)}\n\n[… ${
    text.length - end
  } more characters cut (max_chars ${limit})]`;
}

/** A URL for messages, without any user name or password in it. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) [u.username, u.password] = ["", ""];
    return u.href.length > 300 ? `${u.href.slice(0, 300)}…` : u.href;
  } catch {
    return `"${url.slice(0, 200)}"`;
  }
}
