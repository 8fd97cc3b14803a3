/**
 * A fake Telegram Bot API server on 127.0.0.1 that grammY reaches through its `client.apiRoot`
 * option: `<url>/bot<token>/<method>` for calls, `<url>/file/bot<token>/<file_path>` for files.
 * It speaks the real wire format (`{"ok":true,"result":...}`, errors as
 * `{"ok":false,"error_code":N,"description":"...","parameters":{...}}` in the real API's words),
 * long-polls getUpdates with offset confirmation, and ends a waiting poll with 409 when another
 * poller arrives. Tests push traffic with `pushMessage`, `pushCallbackQuery` and `pushUpdate`, act
 * out failures with `failNext`, `rateLimitShare` and `dropConnectionNext`, and read back what the
 * bot did with `sent`, `messages`, `deliveries` and `calls`.
 *
 * Standalone: `deno run --allow-net=127.0.0.1 tests/_servers/telegram.ts [--port N] [--token T]
 * [--rate-limit-share R --seed N]` prints `{"url": "...", "port": N}` and serves until SIGTERM/SIGINT.
 */
import { parseArgs } from "node:util";
import { DeliberateEnd, openStream, seededRandom, serveUntilSignal } from "./common.ts";
import {
  type Answer,
  bad,
  type CallbackQuery,
  type Chat,
  defaultDescription,
  fail,
  int,
  type Message,
  ok,
  type Params,
  QUERY_INVALID,
  type ResponseParameters,
  unixNow,
  type Update,
  type UserFromGetMe,
} from "./telegram_api.ts";
import { type ChatState, ChatStore, shallow, type StoredMessage } from "./telegram_chats.ts";
import { detectEntities } from "./telegram_html.ts";
import { UpdateQueue } from "./telegram_updates.ts";

export { NOT_MODIFIED, POLL_CONFLICT, WEBHOOK_CONFLICT } from "./telegram_api.ts";
export type { StoredMessage } from "./telegram_chats.ts";

/** Options of {@linkcode FakeTelegram.start}. */
export interface FakeTelegramOptions {
  /** Port on 127.0.0.1; 0 picks a free one. @default 0 */
  port?: number;
  /** When set, calls with another token get 401; its numeric prefix is the bot's id. @default any token */
  token?: string;
  /** Fields of the user `getMe` returns. @default id 7000000001, username "gatehouse_test_bot" */
  bot?: Partial<UserFromGetMe>;
  /** Share of calls to `rateLimitMethods` answered 429 (settable later). @default 0 */
  rateLimitShare?: number;
  /** Seed of the rate-limit draw, so a run can be replayed. @default random */
  seed?: number;
  /** How many recent calls `calls` keeps. @default 10000 */
  maxRecorded?: number;
}

/** One API call as the fake received and answered it. */
export interface RecordedCall {
  /** Position over the server's life; compare with a `callCount` read earlier. */
  seq: number;
  /** The method as the API spells it ("sendMessage"), as requested when unknown, "file" for downloads. */
  method: string;
  params: Params;
  token: string;
  /** `Date.now()` when the call arrived. */
  time: number;
  /** HTTP status answered, 200 on success; 0 while a long poll waits, or when dropped unanswered. */
  status: number;
  /** The error description, when the call failed. */
  description?: string;
  /** The result, when the call succeeded. */
  result?: unknown;
  /** The connection was cut instead of answering. */
  dropped?: boolean;
}

/** A failure acted out instead of processing a call; see {@linkcode FakeTelegram.failNext}. */
export interface FailOptions {
  /** HTTP status and `error_code`: 400, 401, 403, 409, 429, 500; 502 and 504 come as nginx HTML. */
  status: number;
  /** @default the real API's wording for the status */
  description?: string;
  /** `parameters.retry_after` in seconds. @default 1 for 429, else none */
  retryAfter?: number;
  /** Other `parameters`, e.g. `{ migrate_to_chat_id }`. */
  parameters?: ResponseParameters;
  /** How many calls in a row fail. @default 1 */
  times?: number;
}

/** A user as pushed updates carry it. */
export interface FakeUser {
  id: number;
  first_name: string;
  username?: string;
  last_name?: string;
  language_code?: string;
}

/** What {@linkcode FakeTelegram.pushMessage} turns into a `message` update. */
export interface PushMessage {
  from: FakeUser;
  /** @default `from.id`: the private chat with that user */
  chatId?: number;
  /** The text, or the caption when a photo or document is attached. @default "" */
  text?: string;
  /** Type of a chat seen for the first time. @default "private" for a positive id, else "supergroup" */
  chatType?: "private" | "group" | "supergroup";
  /** Title of a group seen for the first time. @default "Group <id>" */
  chatTitle?: string;
  /** A forum topic: sets `message_thread_id` and `is_topic_message`, and makes the chat a forum. */
  threadId?: number;
  /** A reply to the bot's latest message in the chat (true) or to the given message id. */
  replyToBot?: boolean | number;
  /** @default the bot commands, mentions and links found in the text */
  entities?: Message["entities"];
  /** A photo; with `bytes` it can be downloaded through getFile. */
  photo?: { fileId?: string; bytes?: Uint8Array; width?: number; height?: number };
  /** A document; with `bytes` it can be downloaded through getFile. */
  document?: { fileId?: string; fileName?: string; mimeType?: string; bytes?: Uint8Array };
}

/** What {@linkcode FakeTelegram.pushCallbackQuery} turns into a `callback_query` update. */
export interface PushCallbackQuery {
  from: FakeUser;
  /** @default `from.id` */
  chatId?: number;
  /** The bot message whose inline button was pressed. */
  messageId: number;
  data: string;
}

type Handler = (p: Params, token: string) => Answer | Promise<Answer>;

const JSON_HEADERS = { "content-type": "application/json" };
const CHAT_ACTIONS = new Set([
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note",
]);

/** Form and query values are strings; the API reads the structured ones as JSON. */
function decodeField(value: string): unknown {
  if (!/^\s*[[{]/.test(value)) return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** A call's parameters from the query string and a JSON, urlencoded or multipart body. */
async function readParams(req: Request, url: URL): Promise<Params> {
  const params: Params = {};
  for (const [k, v] of url.searchParams) params[k] = decodeField(v);
  if (req.method !== "POST") return params;
  const type = req.headers.get("content-type") ?? "";
  if (type.includes("application/json")) {
    const body = await req.text();
    if (body.trim()) Object.assign(params, JSON.parse(body));
  } else if (type.includes("form")) {
    for (const [k, v] of await req.formData()) {
      params[k] = typeof v === "string" ? decodeField(v) : v;
    }
  } else await req.body?.cancel();
  return params;
}

/** A fake Telegram Bot API; `await using fake = await FakeTelegram.start()`. */
export class FakeTelegram implements AsyncDisposable {
  readonly port: number;
  /** grammY's `client.apiRoot` (no trailing slash). */
  readonly url: string;
  /** The user `getMe` returns. */
  readonly bot: UserFromGetMe;
  /** The most recent calls, oldest first (capped at `maxRecorded`). */
  readonly calls: RecordedCall[] = [];
  /** Calls received since start, uncapped; the next call's `seq`. */
  callCount = 0;
  /** Share of calls to `rateLimitMethods` answered 429, from 0 to 1. */
  rateLimitShare: number;
  /** `retry_after` of those 429s, in seconds. */
  rateLimitRetryAfter = 1;
  /** The methods `rateLimitShare` applies to. */
  rateLimitMethods = new Set(["sendMessage", "editMessageText"]);

  #server: Deno.HttpServer<Deno.NetAddr>;
  #token: string | undefined;
  #random: () => number;
  #maxRecorded: number;
  /** Aborted by close(): ends pending long polls so shutdown never waits for their timeout. */
  #closing = new AbortController();
  #closed: Promise<void> | undefined;
  #handlers: Map<string, [string, Handler]>;
  #faults = new Map<string, FailOptions[]>();
  #drops = new Map<string, boolean[]>();
  #waiters = new Set<{ check: () => void; fail: (err: Error) => void }>();
  #chats: ChatStore;

  #updates: UpdateQueue;
  #callbacks = new Map<string, { answered: boolean }>();
  #files = new Map<string, { bytes: Uint8Array; path: string }>();
  #commands = new Map<string, unknown[]>();

  private constructor(options: FakeTelegramOptions) {
    this.#token = options.token;
    const tokenId = Number(options.token?.split(":")[0]);
    this.bot = {
      id: Number.isSafeInteger(tokenId) && tokenId > 0 ? tokenId : 7000000001,
      is_bot: true,
      first_name: "Gatehouse Test",
      username: "gatehouse_test_bot",
      can_join_groups: true,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
      can_connect_to_business: false,
      has_main_web_app: false,
      has_topics_enabled: false,
      allows_users_to_create_topics: false,
      can_manage_bots: false,
      supports_join_request_queries: false,
      ...options.bot,
    };
    const { id, is_bot, first_name, username } = this.bot;
    this.#chats = new ChatStore({ id, is_bot, first_name, username });
    this.#updates = new UpdateQueue({
      closing: this.#closing.signal,
      changed: () => this.#changed(),
    });
    this.rateLimitShare = options.rateLimitShare ?? 0;
    this.#random = options.seed === undefined ? Math.random : seededRandom(options.seed);
    this.#maxRecorded = options.maxRecorded ?? 10000;
    this.#handlers = this.#routes();
    this.#server = Deno.serve(
      {
        hostname: "127.0.0.1",
        port: options.port ?? 0,
        onListen: () => {},
        onError: (err) => {
          if (!(err instanceof DeliberateEnd)) console.error("fake telegram:", err);
          return new Response(null, { status: 500 });
        },
      },
      (req) => this.#handle(req),
    );
    this.port = this.#server.addr.port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  /** Starts a server on 127.0.0.1. */
  static start(options: FakeTelegramOptions = {}): Promise<FakeTelegram> {
    return Promise.resolve(new FakeTelegram(options));
  }

  /** Stops the server, answering waiting long polls first; pending `until` waits reject. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      const err = new Error("fake telegram closed while a test waited on it");
      for (const w of [...this.#waiters]) w.fail(err);
      await this.#server.shutdown();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- traffic in ----

  /** Queues a `message` update as a user's client would cause it; returns its update_id. */
  pushMessage(push: PushMessage): number {
    const state = this.#chatFor(push);
    const text = push.text ?? "";
    const entities = push.entities ?? detectEntities(text);
    const fields: Record<string, unknown> = {
      from: { is_bot: false, ...push.from },
      chat: state.chat,
      date: unixNow(),
    };
    if (push.threadId !== undefined) {
      Object.assign(fields, { message_thread_id: push.threadId, is_topic_message: true });
    }
    const [textKey, entitiesKey] = push.photo || push.document
      ? ["caption", "caption_entities"]
      : ["text", "entities"];
    if (text || textKey === "text") fields[textKey] = text;
    if (entities.length) fields[entitiesKey] = entities;
    if (push.photo) {
      const { fileId = `photo-${this.#files.size + 1}`, bytes, width = 800, height = 600 } =
        push.photo;
      if (bytes) this.addFile(fileId, bytes, `photos/file_${this.#files.size}.jpg`);
      const size = bytes ? { file_size: bytes.length } : {};
      fields.photo = [{ file_id: fileId, file_unique_id: `u-${fileId}`, width, height, ...size }];
    }
    if (push.document) {
      const { fileId = `doc-${this.#files.size + 1}`, fileName, mimeType, bytes } = push.document;
      if (bytes) this.addFile(fileId, bytes, `documents/${fileName ?? `file_${this.#files.size}`}`);
      fields.document = {
        file_id: fileId,
        file_unique_id: `u-${fileId}`,
        ...(fileName ? { file_name: fileName } : {}),
        ...(mimeType ? { mime_type: mimeType } : {}),
        ...(bytes ? { file_size: bytes.length } : {}),
      };
    }
    if (push.replyToBot !== undefined && push.replyToBot !== false) {
      const target = push.replyToBot === true
        ? this.#chats.lastFromBot(state)
        : state.messages.get(push.replyToBot);
      if (!target) throw new Error(`pushMessage: no message to reply to in chat ${state.chat.id}`);
      fields.reply_to_message = shallow(target.message);
    }
    const message = this.#chats.addPushed(state, fields, text);
    return this.pushUpdate({ message } as Omit<Update, "update_id">);
  }

  /** Queues a `callback_query` update; the query's id is the update_id as a string. */
  pushCallbackQuery(push: PushCallbackQuery): number {
    const state = this.#chats.chat(push.chatId ?? push.from.id);
    const stored = state.messages.get(push.messageId);
    const query: CallbackQuery = {
      id: String(this.#updates.nextId),
      from: { is_bot: false, ...push.from },
      chat_instance: String(8_000_000_000 + Math.abs(state.chat.id)),
      message: stored && !stored.deleted
        ? stored.message
        : { chat: state.chat, message_id: push.messageId, date: 0 },
      data: push.data,
    };
    this.#callbacks.set(query.id, { answered: false });
    return this.pushUpdate({ callback_query: query });
  }

  /** Queues any update, assigning `update_id` when absent; returns the update_id. */
  pushUpdate(raw: Omit<Update, "update_id"> & { update_id?: number }): number {
    const id = this.#updates.push(raw);
    this.#changed();
    return id;
  }

  /** Makes `bytes` downloadable: getFile(fileId) answers `path`, served under /file/bot<token>/. */
  addFile(fileId: string, bytes: Uint8Array, path: string): void {
    this.#files.set(fileId, { bytes, path });
  }

  // ---- faults ----

  /** The next call(s) to `method` fail as told, without being processed. */
  failNext(method: string, options: FailOptions): void {
    const list = this.#faults.get(method) ?? [];
    list.push({ ...options, times: options.times ?? 1 });
    this.#faults.set(method, list);
  }

  /**
   * The next call(s) to `method` lose their answer: the connection drops halfway through the
   * body. With `processed` (the default) the server acts on the call first, as when a real answer
   * is lost on its way back, so a client that retries causes a duplicate.
   */
  dropConnectionNext(method: string, options: { times?: number; processed?: boolean } = {}): void {
    const list = this.#drops.get(method) ?? [];
    for (let i = 0; i < (options.times ?? 1); i++) list.push(options.processed ?? true);
    this.#drops.set(method, list);
  }

  // ---- what happened ----

  /** The texts of the bot's messages in a chat, in order, edits applied, deleted ones left out. */
  sent(chatId: number): string[] {
    return this.messages(chatId)
      .filter((m) => m.fromBot && !m.deleted)
      .map((m) => m.message.text ?? "");
  }

  /** Every message of a chat in order, the bot's and pushed ones, deleted ones flagged. */
  messages(chatId: number): StoredMessage[] {
    return [...(this.#chats.get(chatId)?.messages.values() ?? [])];
  }

  /** sendMessage calls that succeeded for a chat, counting those whose answer was dropped. */
  deliveries(chatId: number): number {
    return this.#chats.get(chatId)?.deliveries ?? 0;
  }

  /** Updates not yet confirmed by a getUpdates offset. */
  get pendingUpdates(): number {
    return this.#updates.pending;
  }

  /** Long polls waiting for updates (one per token at most). */
  get polling(): number {
    return this.#updates.polling;
  }

  /** Acts out another instance polling with the same token: every getUpdates gets 409. */
  get conflict(): boolean {
    return this.#updates.conflict;
  }

  set conflict(on: boolean) {
    this.#updates.conflict = on;
  }

  /** The commands setMyCommands stored for a scope and language. */
  commands(scope: unknown = { type: "default" }, languageCode = ""): unknown[] {
    return this.#commands.get(`${JSON.stringify(scope)}|${languageCode}`) ?? [];
  }

  /**
   * Resolves once `condition` holds, checked now and after every call and pushed update; rejects
   * when the server closes first or `signal` aborts. Starts no timer.
   */
  until(condition: () => boolean, signal?: AbortSignal): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        this.#waiters.delete(waiter);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter = {
        check: () => {
          if (condition()) (done(), resolve());
        },
        fail: (err: Error) => (done(), reject(err)),
      };
      const onAbort = () => waiter.fail(new Error("until: aborted", { cause: signal?.reason }));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** The first answered call to `method` with `seq >= since` that `match` accepts, once there is one. */
  async waitForCall(
    method: string,
    options: { since?: number; match?: (call: RecordedCall) => boolean; signal?: AbortSignal } = {},
  ): Promise<RecordedCall> {
    const { since = 0, match = () => true } = options;
    const find = () =>
      this.calls.find((c) => c.seq >= since && c.method === method && c.status !== 0 && match(c));
    await this.until(() => find() !== undefined, options.signal);
    return find()!;
  }

  /** Forgets calls, chats, queued updates and pending faults; keeps files, commands and the webhook. */
  reset(): void {
    this.calls.length = 0;
    this.#updates.clear();
    this.#chats.clear();
    this.#callbacks.clear();
    this.#faults.clear();
    this.#drops.clear();
  }

  // ---- the server ----

  #record(method: string, params: Params, token: string): RecordedCall {
    const call = { seq: this.callCount++, method, params, token, time: Date.now(), status: 0 };
    this.calls.push(call);
    if (this.calls.length > this.#maxRecorded) this.calls.shift();
    return call;
  }

  #changed(): void {
    for (const w of [...this.#waiters]) w.check();
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) {
      const [, token, path] = file;
      const call = this.#record("file", { file_path: decodeURIComponent(path) }, token);
      const res = this.#download(token, decodeURIComponent(path));
      call.status = res.status;
      this.#changed();
      return res;
    }
    const route = /^\/bot([^/]+)\/(?:test\/)?([A-Za-z0-9_]+)\/?$/.exec(url.pathname);
    if (!route) return this.#respond(fail(404, "Not Found"));
    const [, token, name] = route;
    const [method, handler] = this.#handlers.get(name.toLowerCase()) ?? [name, undefined];

    let params: Params;
    try {
      params = await readParams(req, url);
    } catch (err) {
      return this.#respond(bad(`can't parse request body: ${(err as Error).message}`));
    }
    const call = this.#record(method, params, token);

    const drop = this.#drops.get(method)?.shift();
    let answer: Answer | undefined;
    if (drop !== false) {
      answer = this.#token !== undefined && token !== this.#token
        ? fail(401, "Unauthorized")
        : this.#injectedFault(method) ?? await handler?.(params, token) ?? fail(404, "Not Found");
      call.status = answer.ok ? 200 : answer.error_code;
      if (answer.ok) call.result = answer.result;
      else call.description = answer.description;
    }
    if (drop !== undefined) call.dropped = true;
    this.#changed();
    if (drop === undefined) return this.#respond(answer!);

    // Half a body, then the connection drops.
    const body = answer ? JSON.stringify(answer) : '{"ok":';
    const half = body.slice(0, Math.max(1, body.length >> 1));
    return openStream([half], { end: "cut", headers: JSON_HEADERS, closing: this.#closing.signal });
  }

  #respond(answer: Answer): Response {
    const status = answer.ok ? 200 : answer.error_code;
    if (status === 502 || status === 504) {
      // The real API's gateway errors come from nginx as HTML: grammY sees an HttpError.
      const title = status === 502 ? "502 Bad Gateway" : "504 Gateway Time-out";
      const page = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n` +
        `<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
      return new Response(page, { status, headers: { "content-type": "text/html" } });
    }
    return new Response(JSON.stringify(answer), { status, headers: JSON_HEADERS });
  }

  #injectedFault(method: string): Answer | undefined {
    const list = this.#faults.get(method);
    const fault = list?.[0];
    if (fault) {
      if (--fault.times! <= 0) list!.shift();
      const retryAfter = fault.retryAfter ?? (fault.status === 429 ? 1 : undefined);
      const parameters = {
        ...fault.parameters,
        ...(retryAfter !== undefined ? { retry_after: retryAfter } : {}),
      };
      const description = fault.description ?? defaultDescription(fault.status, retryAfter ?? 1);
      return fail(fault.status, description, parameters);
    }
    if (
      this.rateLimitShare > 0 && this.rateLimitMethods.has(method) &&
      this.#random() < this.rateLimitShare
    ) {
      const after = this.rateLimitRetryAfter;
      return fail(429, `Too Many Requests: retry after ${after}`, { retry_after: after });
    }
    return undefined;
  }

  #download(token: string, path: string): Response {
    if (this.#token !== undefined && token !== this.#token) {
      return this.#respond(fail(401, "Unauthorized"));
    }
    const file = [...this.#files.values()].find((f) => f.path === path);
    if (!file) return this.#respond(fail(404, "Not Found"));
    return new Response(file.bytes.slice(), {
      headers: { "content-type": "application/octet-stream" },
    });
  }

  /** Handlers by lower-cased name, as the real API matches method names case-insensitively. */
  #routes(): Map<string, [string, Handler]> {
    const chats = this.#chats;
    const commandKey = (p: Params) =>
      `${JSON.stringify(p.scope ?? { type: "default" })}|${p.language_code ?? ""}`;
    const table: Record<string, Handler> = {
      getMe: () => ok(this.bot),
      getUpdates: (p, token) => this.#updates.getUpdates(p, token),
      sendMessage: (p) => chats.sendMessage(p),
      editMessageText: (p) => chats.edit(p, "text"),
      editMessageReplyMarkup: (p) => chats.edit(p, "markup"),
      deleteMessage: (p) => chats.deleteMessage(p),
      sendChatAction: (p) => {
        if (!chats.resolve(p.chat_id)) return bad("chat not found");
        return CHAT_ACTIONS.has(String(p.action))
          ? ok(true)
          : bad("wrong parameter action in request");
      },
      setMessageReaction: (p) => {
        const m = chats.resolve(p.chat_id)?.messages.get(int(p.message_id) ?? 0);
        return m && !m.deleted ? ok(true) : bad("message to react not found");
      },
      answerCallbackQuery: (p) => {
        const query = this.#callbacks.get(String(p.callback_query_id));
        if (!query || query.answered) return fail(400, QUERY_INVALID);
        query.answered = true;
        return ok(true);
      },
      setMyCommands: (p) => {
        if (!Array.isArray(p.commands)) return bad('parameter "commands" is required');
        for (const c of p.commands as Params[]) {
          if (typeof c?.command !== "string" || !/^[a-z0-9_]{1,32}$/.test(c.command)) {
            return bad("BOT_COMMAND_INVALID");
          }
          if (typeof c.description !== "string" || c.description === "") {
            return bad("BOT_COMMAND_DESCRIPTION_INVALID");
          }
        }
        this.#commands.set(commandKey(p), p.commands);
        return ok(true);
      },
      getMyCommands: (p) => ok(this.#commands.get(commandKey(p)) ?? []),
      deleteMyCommands: (p) => {
        this.#commands.delete(commandKey(p));
        return ok(true);
      },
      getFile: (p) => {
        const id = String(p.file_id ?? "");
        const f = this.#files.get(id);
        if (!f) return bad("invalid file_id");
        return ok({
          file_id: id,
          file_unique_id: `u-${id}`,
          file_size: f.bytes.length,
          file_path: f.path,
        });
      },
      setWebhook: (p) => this.#updates.setWebhook(p),
      deleteWebhook: (p) => this.#updates.setWebhook({ ...p, url: "" }),
      getWebhookInfo: () => this.#updates.webhookInfo(),
    };
    return new Map(Object.entries(table).map(([name, h]) => [name.toLowerCase(), [name, h]]));
  }

  /** The chat a pushed message goes to, created as the push describes it when new. */
  #chatFor(push: PushMessage): ChatState {
    const id = push.chatId ?? push.from.id;
    const type = push.chatType ?? (id > 0 ? "private" : "supergroup");
    const state = this.#chats.chat(id, (): Chat => {
      if (type !== "private") return { id, type, title: push.chatTitle ?? `Group ${id}` } as Chat;
      const { first_name, last_name, username } = push.from;
      return {
        id,
        type,
        first_name,
        ...(last_name ? { last_name } : {}),
        ...(username ? { username } : {}),
      };
    });
    if (push.threadId !== undefined && state.chat.type === "supergroup" && !state.chat.is_forum) {
      state.chat = { ...state.chat, is_forum: true };
    }
    return state;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "0" },
      token: { type: "string" },
      "rate-limit-share": { type: "string", default: "0" },
      seed: { type: "string" },
    },
  });
  const fake = await FakeTelegram.start({
    port: Number(values.port),
    token: values.token,
    rateLimitShare: Number(values["rate-limit-share"]),
    seed: values.seed === undefined ? undefined : Number(values.seed),
  });
  serveUntilSignal(fake);
}
