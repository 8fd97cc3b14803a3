/**
 * Webhook mode, the optional alternative to long polling: Telegram POSTs each update to
 * `/telegram/<path>` with the secret token in `X-Telegram-Bot-Api-Secret-Token`. Answering 200 is
 * what confirms an update, so the answer waits until `handle` has recorded it (the chat service
 * writes it to the KV ingress log under `telegram:<update_id>`); when recording fails the answer
 * is 500 and Telegram delivers the update again. Every other refusal is a 4xx, because Telegram
 * retries a 5xx for hours. Re-deliveries are answered 200 without handling again, from an
 * in-memory list of recent update_ids (the idempotency key downstream covers a restart).
 *
 * The path is derived from the secret by hashing, so logs and proxies that see the path do not
 * learn the token. grammY's own `webhookCallback` needs a `Bot` and its middleware; the adapter
 * uses only `Api`, so this is the few checks that callback makes, done our way.
 */
import { z } from "zod";
import { ConfigError, type Logger } from "../../kernel/mod.ts";
import { secretsEqual } from "../../gateway/token.ts";

/** The header Telegram sends the secret token in. */
export const SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token";
/** The update kinds the adapter reads; the same list the poller asks for. */
export const WEBHOOK_ALLOWED_UPDATES = ["message", "callback_query"] as const;

/** What Telegram accepts as `secret_token`. */
const SECRET_FORMAT = /^[A-Za-z0-9_-]{1,256}$/;
const PATH_PREFIX = "/telegram/";
const MiB = 1024 * 1024;

/** The least an update body must be; the rest is read by the adapter's own update types. */
const updateBody = z.looseObject({ update_id: z.number().int().nonnegative() });

/** The part of an update this module reads. */
export interface WebhookUpdate {
  update_id: number;
}

/**
 * Why a webhook secret is unusable, or undefined when Telegram accepts it. `source` names where it
 * came from (an env var) so the message can say what to change.
 */
export function webhookSecretProblem(
  secret: string,
  source = "the webhook secret",
): string | undefined {
  if (SECRET_FORMAT.test(secret)) return undefined;
  const what = secret === ""
    ? "is empty"
    : secret.length > 256
    ? `is ${secret.length} characters long`
    : "has characters other than A-Z a-z 0-9 _ -";
  return `telegram: ${source} ${what}; Telegram accepts 1-256 characters of A-Z a-z 0-9 _ -: ` +
    `set it to e.g. the output of \`openssl rand -hex 32\``;
}

/**
 * The route a secret serves at: `/telegram/` and the first 32 hex digits of the secret's SHA-256.
 * Throws {@linkcode ConfigError} when Telegram would refuse the secret.
 */
export async function webhookPath(secret: string, source?: string): Promise<string> {
  const problem = webhookSecretProblem(secret, source);
  if (problem) throw new ConfigError([problem]);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret));
  const hex = [...new Uint8Array(digest, 0, 16)].map((b) => b.toString(16).padStart(2, "0"));
  return PATH_PREFIX + hex.join("");
}

/**
 * The URL Telegram is told to call: the public base (what a reverse proxy exposes, which must
 * forward `/telegram/…` unchanged) with {@linkcode webhookPath} appended. Throws
 * {@linkcode ConfigError} for a base that is not plain https.
 */
export async function webhookUrl(
  publicUrl: string,
  secret: string,
  source?: string,
): Promise<string> {
  const base = URL.canParse(publicUrl) ? new URL(publicUrl) : undefined;
  if (base?.protocol !== "https:" || base.search || base.hash || base.username) {
    throw new ConfigError([
      `telegram: webhook URL ${JSON.stringify(publicUrl)} is not a plain https URL: Telegram ` +
      `calls only https; set the public base URL of the reverse proxy, e.g. "https://bot.example.com"`,
    ]);
  }
  return base.origin + base.pathname.replace(/\/+$/, "") + await webhookPath(secret, source);
}

/** The Bot API calls that switch webhook mode on and off (a grammY `Api` fits once its signals are cast). */
export interface WebhookApi {
  setWebhook(
    url: string,
    other: {
      secret_token: string;
      allowed_updates: readonly string[];
      drop_pending_updates: boolean;
      max_connections?: number;
    },
    signal?: AbortSignal,
  ): Promise<unknown>;
  deleteWebhook(other: { drop_pending_updates: boolean }, signal?: AbortSignal): Promise<unknown>;
}

/** Options of {@linkcode registerWebhook}. */
export interface RegisterWebhookOptions {
  /** Public https base URL; the path is appended (see {@linkcode webhookUrl}). */
  publicUrl: string;
  /** The secret token Telegram will send back. */
  secret: string;
  /** Where the secret came from, for error messages. @default "the webhook secret" */
  secretSource?: string;
  /** Concurrent deliveries Telegram may make. @default Telegram's own, 40 */
  maxConnections?: number;
  signal?: AbortSignal;
}

/**
 * Tells Telegram to deliver updates to this gateway. Pending updates are kept, so nothing sent
 * while the gateway switched modes is lost. Returns the URL set.
 */
export async function registerWebhook(
  api: WebhookApi,
  options: RegisterWebhookOptions,
): Promise<string> {
  const url = await webhookUrl(options.publicUrl, options.secret, options.secretSource);
  await api.setWebhook(url, {
    secret_token: options.secret,
    allowed_updates: WEBHOOK_ALLOWED_UPDATES,
    drop_pending_updates: false,
    ...(options.maxConnections !== undefined ? { max_connections: options.maxConnections } : {}),
  }, options.signal);
  return url;
}

/**
 * Switches webhook mode off, keeping pending updates for getUpdates. Call it before polling: while
 * a webhook is set, every getUpdates fails with 409.
 */
export async function unregisterWebhook(
  api: WebhookApi,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  await api.deleteWebhook({ drop_pending_updates: false }, options.signal);
}

/** Options of {@linkcode TelegramWebhook.create}. */
export interface TelegramWebhookOptions<U extends WebhookUpdate> {
  /** The secret token, as set with {@linkcode registerWebhook}. */
  secret: string;
  /** Where the secret came from, for error messages. @default "the webhook secret" */
  secretSource?: string;
  /** Records the update durably; the answer to Telegram waits for it. */
  handle: (update: U) => Promise<void>;
  logger: Logger;
  /** Largest body read; Telegram's updates are a few KiB. @default 1 MiB */
  maxBodyBytes?: number;
  /** How many handled update_ids are remembered to answer re-deliveries. @default 4096 */
  rememberIds?: number;
}

/** The HTTP side of webhook mode: one handler for `POST /telegram/<path>`. */
export class TelegramWebhook<U extends WebhookUpdate = WebhookUpdate> {
  /** The route this webhook answers, from {@linkcode webhookPath}. */
  readonly path: string;
  #o: TelegramWebhookOptions<U>;
  #maxBody: number;
  #remember: number;
  /** Handled update_ids, oldest first; a hit moves to the end. */
  #seen = new Map<number, true>();
  /** Updates being handled: a re-delivery that arrives meanwhile waits for the same outcome. */
  #inFlight = new Map<number, Promise<void>>();
  /** Refused requests since the last accepted one, so a streak of them logs once. */
  #refused = 0;
  #closing = false;

  private constructor(path: string, options: TelegramWebhookOptions<U>) {
    this.path = path;
    this.#o = options;
    this.#maxBody = options.maxBodyBytes ?? MiB;
    this.#remember = options.rememberIds ?? 4096;
  }

  /** Checks the secret and derives the path; throws {@linkcode ConfigError} for a bad secret. */
  static async create<U extends WebhookUpdate = WebhookUpdate>(
    options: TelegramWebhookOptions<U>,
  ): Promise<TelegramWebhook<U>> {
    return new TelegramWebhook(await webhookPath(options.secret, options.secretSource), options);
  }

  /** Answers one request; mount it at {@linkcode path} (other paths get 404). */
  handler = async (req: Request): Promise<Response> => {
    if (new URL(req.url).pathname !== this.path) return json(404, { error: "not found" });
    const token = req.headers.get(SECRET_HEADER);
    if (token === null || !await secretsEqual(token, this.#o.secret)) {
      await req.body?.cancel();
      return this.#refuse(token === null ? "missing" : "wrong");
    }
    if (this.#refused > 0) {
      this.#o.logger.info("telegram: webhook secret accepted again", { refused: this.#refused });
      this.#refused = 0;
    }
    if (req.method !== "POST") {
      await req.body?.cancel();
      return json(405, { error: "use POST" }, { allow: "POST" });
    }
    const type = req.headers.get("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      await req.body?.cancel();
      return json(415, { error: "send application/json" });
    }
    const body = await readCapped(req, this.#maxBody);
    if (body === undefined) return json(413, { error: `body over ${this.#maxBody} bytes` });
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return this.#malformed("the body is not JSON");
    }
    const update = updateBody.safeParse(parsed);
    if (!update.success) return this.#malformed("the body has no numeric update_id");
    // Past this point the body is trusted as Telegram's update, as grammY's are when polling.
    return await this.#deliver(update.data as unknown as U);
  };

  /**
   * Stops accepting updates (they are answered 503, so Telegram keeps them) and resolves once
   * those in hand are recorded. The webhook stays set with Telegram: updates wait for the restart.
   */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([...this.#inFlight.values()]);
  }

  async #deliver(update: U): Promise<Response> {
    const id = update.update_id;
    if (this.#seen.has(id)) {
      this.#seen.delete(id);
      this.#seen.set(id, true);
      this.#o.logger.debug("telegram: update delivered again; already recorded", { update: id });
      return json(200, { ok: true });
    }
    let pending = this.#inFlight.get(id);
    if (!pending) {
      if (this.#closing) {
        // Not confirmed: Telegram delivers it again once the gateway is back.
        return json(503, { error: "shutting down" }, { "retry-after": "5" });
      }
      // Async, so a handler that throws before its first await still becomes a 500.
      pending = (async () => await this.#o.handle(update))();
      this.#inFlight.set(id, pending);
      pending.then(() => this.#remembered(id), () => {}).finally(() => this.#inFlight.delete(id));
    }
    try {
      await pending;
      return json(200, { ok: true });
    } catch (err) {
      this.#o.logger.error("telegram: an update could not be recorded; Telegram will retry", {
        update: id,
        error: err instanceof Error ? err.message : String(err),
      });
      return json(500, { error: "not recorded; retry" });
    }
  }

  #remembered(id: number): void {
    this.#seen.set(id, true);
    if (this.#seen.size > this.#remember) {
      this.#seen.delete(this.#seen.keys().next().value!);
    }
  }

  #refuse(why: "missing" | "wrong"): Response {
    if (this.#refused++ === 0) {
      this.#o.logger.warn(
        `telegram: webhook request refused: ${why} ${SECRET_HEADER}; if this is Telegram, ` +
          "register the webhook again with the current secret (restart the gateway)",
      );
    }
    return json(401, { error: "unauthorized" });
  }

  #malformed(why: string): Response {
    this.#o.logger.warn(`telegram: webhook request ignored: ${why}`);
    return json(400, { error: why });
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** The body as text, or undefined when it is longer than `max` bytes (read no further than that). */
async function readCapped(req: Request, max: number): Promise<string | undefined> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > max) {
    await req.body?.cancel();
    return undefined;
  }
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) (all.set(chunk, at), at += chunk.byteLength);
  return new TextDecoder().decode(all);
}
