/**
 * A fake OpenAI chat-completions server on 127.0.0.1 that speaks the real wire format (JSON and SSE
 * streaming, tool-call deltas, usage chunks, errors with `retry-after`, cut streams, stalls).
 * Used by unit tests, end-to-end tests and `bench/`, so the default path builds one string and
 * returns it: no framework, no per-request timers unless a delay is asked for.
 *
 * Standalone: `deno run --allow-net=127.0.0.1 tests/_servers/openai.ts [--port N] [--latency-ms N]
 * [--chunk-delay-ms N]` prints `{"url": "...", "port": N}` and serves until SIGTERM/SIGINT.
 */
import { parseArgs } from "node:util";

/** A failure the fake can act out instead of answering. */
export type FakeFault =
  | "rate_limit"
  | "server_error"
  | "stall"
  | "cut"
  | "bad_json"
  | "unauthorized"
  | "context_overflow";

/** One scripted answer; queued with {@linkcode FakeOpenAI.script} and consumed one per request. */
export interface ScriptedReply {
  /** Assistant text; streamed split into a few chunks. @default "" */
  text?: string;
  /** Exact stream chunks of the text (overrides the automatic split). */
  chunks?: string[];
  /** Tool calls, sent after the text; streamed as index/id/name/argument-piece deltas. */
  toolCalls?: { id: string; name: string; arguments: string }[];
  /** Token counts reported. @default estimated at 4 characters a token */
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** @default "tool_calls" when toolCalls are given, else "stop" */
  finishReason?: string;
  /**
   * Act out a failure instead of answering. `stall` streams the role chunk and any scripted text,
   * then nothing until the client disconnects; `cut` drops the connection halfway through the text.
   */
  fault?: FakeFault;
  /** `retry-after` seconds of a `rate_limit` fault. @default 1 */
  retryAfterSeconds?: number;
  /** Delay before this reply's first byte, in place of the server's `latencyMs`. */
  delayMs?: number;
}

/** The request body as the fake reads it: an OpenAI chat-completions request. */
export interface ChatRequestBody {
  model?: string;
  messages: { role: string; content?: unknown; [key: string]: unknown }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_tokens?: number;
  [key: string]: unknown;
}

/** One recorded chat-completions request. */
export interface RecordedRequest {
  body: ChatRequestBody;
  /** The `Authorization` header as sent, or null. */
  authorization: string | null;
}

/** Options of {@linkcode FakeOpenAI.start}. */
export interface FakeOpenAIOptions {
  /** Port on 127.0.0.1; 0 picks a free one. @default 0 */
  port?: number;
  /** Delay before the first byte of every reply (settable later through `latencyMs`). @default 0 */
  latencyMs?: number;
  /** Delay between streamed chunks (settable later through `chunkDelayMs`). @default 0 */
  chunkDelayMs?: number;
  /** The reply when no script is queued. @default `echo: <content of the last user message>` */
  defaultReply?: (body: ChatRequestBody) => ScriptedReply;
  /** How many recent requests `requests` keeps. @default 1000 */
  maxRecorded?: number;
}

const JSON_HEADERS = { "content-type": "application/json" };
const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
};
const DONE = "data: [DONE]\n\n";
const CREATED = Math.floor(Date.now() / 1000);
const MODELS_BODY = JSON.stringify({
  object: "list",
  data: ["gpt-4.1-mini", "gpt-4.1", "fake-model"].map((id) => ({
    id,
    object: "model",
    created: CREATED,
    owned_by: "fake",
  })),
});
const encoder = new TextEncoder();

/** The default reply: echoes the last user message, which proves sessions never share context. */
export function echoReply(body: ChatRequestBody): ScriptedReply {
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m = body.messages[i];
    if (m.role === "user") return { text: `echo: ${contentText(m.content)}` };
  }
  return { text: "echo: " };
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((p) => (typeof p?.text === "string" ? p.text : "")).join("");
  }
  return "";
}

function errorBody(
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
) {
  return JSON.stringify({ error: { message, type, param, code } });
}

function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

/** Splits text into at most three pieces at spaces (one piece when there is no space). */
function splitText(text: string): string[] {
  if (text === "") return [];
  const words = text.split(/(?<= )/);
  if (words.length < 3) return words;
  const per = Math.ceil(words.length / 3);
  const out: string[] = [];
  for (let i = 0; i < words.length; i += per) out.push(words.slice(i, i + per).join(""));
  return out;
}

/** Splits a tool call's arguments into two pieces, as OpenAI streams them in fragments. */
function splitArgs(args: string): string[] {
  if (args.length < 2) return [args];
  const mid = Math.ceil(args.length / 2);
  return [args.slice(0, mid), args.slice(mid)];
}

/**
 * Resolves true after `ms` (never, when `ms` is Infinity), or false as soon as any signal aborts.
 * Leaves no timer or listener behind.
 */
function sleep(ms: number, signals: AbortSignal[]): Promise<boolean> {
  if (signals.some((s) => s.aborted)) return Promise.resolve(false);
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (completed: boolean) => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener("abort", onAbort);
      resolve(completed);
    };
    const onAbort = () => done(false);
    if (Number.isFinite(ms)) timer = setTimeout(() => done(true), ms);
    for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
  });
}

/** Ends a response body on purpose (cut, stall, shutdown); `onError` keeps it out of the logs. */
class DeliberateEnd extends Error {}

let nextId = 0;

/** A fake OpenAI server; `await using fake = await FakeOpenAI.start()`. */
export class FakeOpenAI implements AsyncDisposable {
  /** Base URL including `/v1`, for the SDK's `baseURL`. */
  readonly url: string;
  readonly port: number;
  /** The most recent chat-completions requests, oldest first (capped at `maxRecorded`). */
  readonly requests: RecordedRequest[] = [];
  /** Chat-completions requests served since start or `reset()`, uncapped. */
  requestCount = 0;
  /** Delay before the first byte of every reply. */
  latencyMs: number;
  /** Delay between streamed chunks. */
  chunkDelayMs: number;

  #server: Deno.HttpServer<Deno.NetAddr>;
  #queue: ScriptedReply[] = [];
  #defaultReply: (body: ChatRequestBody) => ScriptedReply;
  #maxRecorded: number;
  /** Aborted by close(): ends pending delays, stalls and slow streams so shutdown never hangs. */
  #closing = new AbortController();
  #closed: Promise<void> | undefined;

  private constructor(options: FakeOpenAIOptions) {
    this.latencyMs = options.latencyMs ?? 0;
    this.chunkDelayMs = options.chunkDelayMs ?? 0;
    this.#defaultReply = options.defaultReply ?? echoReply;
    this.#maxRecorded = options.maxRecorded ?? 1000;
    this.#server = Deno.serve(
      {
        hostname: "127.0.0.1",
        port: options.port ?? 0,
        onListen: () => {},
        onError: (err) => {
          if (!(err instanceof DeliberateEnd)) console.error("fake openai:", err);
          return new Response(null, { status: 500 });
        },
      },
      (req) => this.#handle(req),
    );
    this.port = this.#server.addr.port;
    this.url = `http://127.0.0.1:${this.port}/v1`;
  }

  /** Starts a server on 127.0.0.1. */
  static start(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
    return Promise.resolve(new FakeOpenAI(options));
  }

  /** Queues replies, consumed one per chat-completions request in order. */
  script(...replies: ScriptedReply[]): void {
    this.#queue.push(...replies);
  }

  /** Forgets queued replies and recorded requests. */
  reset(): void {
    this.#queue.length = 0;
    this.requests.length = 0;
    this.requestCount = 0;
  }

  /** Stops the server, ending stalled and in-flight streams first. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await this.#server.shutdown();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === "/v1/models") {
      return new Response(MODELS_BODY, { headers: JSON_HEADERS });
    }
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      return new Response(
        errorBody(`Invalid URL (${req.method} ${path})`, "invalid_request_error", null),
        { status: 404, headers: JSON_HEADERS },
      );
    }

    let body: ChatRequestBody;
    try {
      body = JSON.parse(await req.text());
      if (typeof body !== "object" || body === null || !Array.isArray(body.messages)) {
        throw new Error("messages must be an array");
      }
    } catch (e) {
      const msg = `We could not parse the JSON body of your request: ${(e as Error).message}`;
      return new Response(errorBody(msg, "invalid_request_error", null), {
        status: 400,
        headers: JSON_HEADERS,
      });
    }
    const authorization = req.headers.get("authorization");
    this.requests.push({ body, authorization });
    if (this.requests.length > this.#maxRecorded) this.requests.shift();
    this.requestCount++;

    const reply = this.#queue.shift() ?? this.#defaultReply(body);
    const delay = reply.delayMs ?? this.latencyMs;
    // Not req.signal: reading it makes Deno warn about its legacy abort-on-success behaviour.
    // A client that leaves during the delay costs one timer, which close() also ends.
    if (delay > 0 && !(await sleep(delay, [this.#closing.signal]))) {
      return new Response(null, { status: 503 });
    }

    switch (reply.fault) {
      case "rate_limit": {
        const after = reply.retryAfterSeconds ?? 1;
        return new Response(
          errorBody(
            `Rate limit reached for requests. Please try again in ${after}s.`,
            "requests",
            "rate_limit_exceeded",
          ),
          { status: 429, headers: { ...JSON_HEADERS, "retry-after": String(after) } },
        );
      }
      case "server_error":
        return new Response(
          errorBody(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            null,
          ),
          { status: 500, headers: JSON_HEADERS },
        );
      case "unauthorized": {
        // Echoes the whole presented key (OpenAI echoes a masked one), so tests can prove the
        // provider never repeats upstream text that carries it.
        const key = authorization?.replace(/^Bearer /i, "") ?? "";
        return new Response(
          errorBody(
            `Incorrect API key provided: ${key}. You can find your API key at https://platform.openai.com/account/api-keys.`,
            "invalid_request_error",
            "invalid_api_key",
          ),
          { status: 401, headers: JSON_HEADERS },
        );
      }
      case "context_overflow":
        return new Response(
          errorBody(
            "This model's maximum context length is 8192 tokens. However, your messages resulted in " +
              `${estimateTokens(JSON.stringify(body.messages).length)} tokens. ` +
              "Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
          ),
          { status: 400, headers: JSON_HEADERS },
        );
      case "bad_json":
        // Streaming: an SSE event whose data is not JSON; plain: a JSON content type over garbage.
        return body.stream
          ? new Response('data: {"id": chatcmpl-garbage <html>\n\n', { headers: SSE_HEADERS })
          : new Response('{"id": chatcmpl-garbage <html>', { headers: JSON_HEADERS });
    }

    return body.stream ? this.#streamReply(body, reply) : this.#jsonReply(body, reply);
  }

  #jsonReply(body: ChatRequestBody, reply: ScriptedReply): Response {
    const text = reply.chunks ? reply.chunks.join("") : reply.text ?? "";
    const toolCalls = reply.toolCalls ?? [];
    const completion = JSON.stringify({
      id: `chatcmpl-fake-${++nextId}`,
      object: "chat.completion",
      created: CREATED,
      model: body.model ?? "fake-model",
      system_fingerprint: null,
      choices: [{
        index: 0,
        message: {
          role: "assistant",
          content: text === "" && toolCalls.length ? null : text,
          refusal: null,
          ...(toolCalls.length
            ? {
              tool_calls: toolCalls.map((c) => ({
                id: c.id,
                type: "function",
                function: { name: c.name, arguments: c.arguments },
              })),
            }
            : {}),
        },
        logprobs: null,
        finish_reason: reply.finishReason ?? (toolCalls.length ? "tool_calls" : "stop"),
      }],
      usage: this.#usage(body, reply, text),
    });
    if (reply.fault === "stall") {
      return this.#openStream([], "stall", JSON_HEADERS);
    }
    if (reply.fault === "cut") {
      return this.#openStream([completion.slice(0, completion.length >> 1)], "cut", JSON_HEADERS);
    }
    return new Response(completion, { headers: JSON_HEADERS });
  }

  #streamReply(body: ChatRequestBody, reply: ScriptedReply): Response {
    const includeUsage = body.stream_options?.include_usage === true;
    // Every chunk shares its envelope; only the delta and finish_reason differ.
    const head = `data: {"id":"chatcmpl-fake-${++nextId}","object":"chat.completion.chunk",` +
      `"created":${CREATED},"model":${JSON.stringify(body.model ?? "fake-model")},` +
      `"system_fingerprint":null,"choices":[{"index":0,"delta":`;
    const usageNull = includeUsage ? `,"usage":null` : "";
    const tail = `,"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`;

    const events: string[] = [head + `{"role":"assistant","content":"","refusal":null}` + tail];
    const pieces = reply.chunks ?? splitText(reply.text ?? "");
    for (const piece of pieces) events.push(head + `{"content":${JSON.stringify(piece)}}` + tail);
    const toolCalls = reply.toolCalls ?? [];
    toolCalls.forEach((call, index) => {
      const first = {
        index,
        id: call.id,
        type: "function",
        function: { name: call.name, arguments: "" },
      };
      events.push(head + JSON.stringify({ tool_calls: [first] }) + tail);
      for (const part of splitArgs(call.arguments)) {
        events.push(
          head + JSON.stringify({ tool_calls: [{ index, function: { arguments: part } }] }) + tail,
        );
      }
    });

    if (reply.fault === "stall") return this.#openStream(events, "stall", SSE_HEADERS);
    if (reply.fault === "cut") {
      // The role chunk and about half the content, then the connection drops: no finish, no [DONE].
      const keep = 1 + Math.max(1, Math.ceil((events.length - 1) / 2));
      return this.#openStream(events.slice(0, keep), "cut", SSE_HEADERS);
    }

    const finish = JSON.stringify(reply.finishReason ?? (toolCalls.length ? "tool_calls" : "stop"));
    events.push(`${head}{},"logprobs":null,"finish_reason":${finish}}]${usageNull}}\n\n`);
    if (includeUsage) {
      const text = reply.chunks ? reply.chunks.join("") : reply.text ?? "";
      events.push(
        head.slice(0, head.indexOf(`"choices":[`)) +
          `"choices":[],"usage":${JSON.stringify(this.#usage(body, reply, text))}}\n\n`,
      );
    }
    events.push(DONE);

    if (this.chunkDelayMs <= 0) return new Response(events.join(""), { headers: SSE_HEADERS });
    return this.#openStream(events, "end", SSE_HEADERS);
  }

  /**
   * A body that sends `events` (spaced by `chunkDelayMs`), then ends as `end` says: `end` closes
   * cleanly, `cut` errors the body so the connection drops mid-response, `stall` stays open until
   * the client disconnects (Deno then cancels the body) or the server closes. No timer or listener
   * outlives the request.
   */
  #openStream(events: string[], end: "end" | "cut" | "stall", headers: HeadersInit): Response {
    const gone = new AbortController();
    const signals = [gone.signal, this.#closing.signal];
    const gap = this.chunkDelayMs;
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (i < events.length) {
          if (i > 0 && gap > 0 && !(await sleep(gap, signals))) {
            if (!gone.signal.aborted) controller.error(new DeliberateEnd("server closing"));
            return;
          }
          controller.enqueue(encoder.encode(events[i++]));
          return;
        }
        if (end === "end") return controller.close();
        if (end === "cut") return controller.error(new DeliberateEnd("cut"));
        await sleep(Infinity, signals); // the stall
        if (!gone.signal.aborted) controller.error(new DeliberateEnd("server closing"));
      },
      cancel: () => gone.abort(),
    });
    return new Response(stream, { headers });
  }

  #usage(body: ChatRequestBody, reply: ScriptedReply, text: string) {
    const prompt = reply.usage?.prompt_tokens ??
      estimateTokens(body.messages.reduce((n, m) => n + contentText(m.content).length, 0));
    const completion = reply.usage?.completion_tokens ?? estimateTokens(text.length);
    return {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
    };
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "0" },
      "latency-ms": { type: "string", default: "0" },
      "chunk-delay-ms": { type: "string", default: "0" },
    },
  });
  const fake = await FakeOpenAI.start({
    port: Number(values.port),
    latencyMs: Number(values["latency-ms"]),
    chunkDelayMs: Number(values["chunk-delay-ms"]),
  });
  console.log(JSON.stringify({ url: fake.url, port: fake.port }));
  const stop = async () => {
    await fake.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
