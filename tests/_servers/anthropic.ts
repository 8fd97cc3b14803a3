/**
 * A fake Anthropic Messages API on 127.0.0.1 that speaks the real wire format: `POST /v1/messages`
 * as JSON or as the SSE event stream (text, thinking with its signature, tool_use input streamed
 * as `input_json_delta` pieces, pings), errors in the `{"type":"error"}` shape with a
 * `request-id` header, and the faults a gateway must survive. It validates requests as the real
 * API does (tool_use/tool_result pairing, roles, block shapes, tools, thinking) and answers 400
 * `invalid_request_error` naming the problem, so a provider that builds a bad history fails here
 * as it would in production.
 *
 * The default reply is `echo: <text of the last user message>`; when that message holds only
 * tool results it is `tool results: <their contents, comma-joined>`.
 *
 * Standalone: `deno run --allow-net=127.0.0.1 tests/_servers/anthropic.ts [--port N]
 * [--latency-ms N] [--chunk-delay-ms N] [--fault-rate R --faults a,b --seed N]` prints
 * `{"url": "...", "port": N}` and serves until SIGTERM/SIGINT.
 */
import {
  blocksOf,
  isObject,
  isToolResultsOnly,
  requestProblem,
  textOf,
} from "./anthropic_validation.ts";
import {
  estimateTokens,
  FakeServer,
  type FakeServerOptions,
  parseStandaloneFlags,
  randomFaults,
  seededRandom,
  serveUntilSignal,
  splitEvenly,
  splitText,
} from "./common.ts";

/** The failures the fake can act out instead of answering. */
export const FAKE_FAULTS = [
  "rate_limit",
  "overloaded",
  "server_error",
  "bad_request",
  "context_overflow",
  "unauthorized",
  "stall",
  "cut",
  "bad_json",
  "stream_error",
  "billing",
] as const;

/**
 * A failure the fake can act out instead of answering: `rate_limit` 429 with `retry-after`,
 * `overloaded` 529, `server_error` 500, `bad_request` and `context_overflow` 400,
 * `unauthorized` 401 echoing the presented key; `stall` sends `message_start` and any scripted
 * text, then nothing until the client leaves; `cut` drops the connection halfway; `bad_json`
 * sends an SSE data line (or a JSON body) that is not JSON; `stream_error` is a 200 stream that
 * sends some text, then an `error` event with an `overloaded_error` (a plain 529 when not
 * streaming); `billing` is the 400 the API sends when the credit balance is spent.
 */
export type FakeFault = typeof FAKE_FAULTS[number];

/** A tool call the fake answers with: `input` as an object, or `arguments` as raw JSON text. */
export interface ScriptedToolCall {
  id: string;
  name: string;
  /** The tool's input. @default {} */
  input?: Record<string, unknown>;
  /** Raw JSON text streamed as the input instead of `input`; may be broken on purpose. */
  arguments?: string;
}

/** One scripted answer; queued with {@linkcode FakeAnthropic.script} and consumed one per request. */
export interface ScriptedReply {
  /** Assistant text; streamed split into a few `text_delta`s. @default "" (no text block) */
  text?: string;
  /** Exact `text_delta`s of the text (overrides the automatic split). */
  chunks?: string[];
  /** A thinking block sent first, followed by its `signature_delta`. */
  thinking?: string;
  /** `tool_use` blocks, sent after the text. */
  toolCalls?: ScriptedToolCall[];
  /** Token counts reported. @default estimated at 4 characters a token */
  usage?: { input_tokens: number; output_tokens: number };
  /** @default "tool_use" when toolCalls are given, else "end_turn" */
  stopReason?: "end_turn" | "tool_use" | "max_tokens" | "stop_sequence" | "refusal" | "pause_turn";
  /** Act out a failure instead of answering; see {@linkcode FakeFault}. */
  fault?: FakeFault;
  /** `retry-after` seconds of a `rate_limit` fault. @default 1 */
  retryAfterSeconds?: number;
  /** Delay before this reply's first byte, in place of the server's `latencyMs`. */
  delayMs?: number;
}

/**
 * The request body as sent to `POST /v1/messages`. Only `messages` being an array is certain;
 * the rest holds its documented shape once the request passed validation.
 */
export interface MessagesRequestBody {
  model?: string;
  max_tokens?: number;
  messages: { role: string; content: unknown }[];
  system?: unknown;
  tools?: unknown;
  thinking?: unknown;
  stream?: boolean;
  [key: string]: unknown;
}

/** One recorded `POST /v1/messages` request. */
export interface RecordedRequest {
  body: MessagesRequestBody;
  /** The `x-api-key` header as sent, or null. */
  apiKey: string | null;
  /** The `Authorization` header as sent, or null (SDK 1.12 sends its key here as a Bearer). */
  authorization: string | null;
  /** The `anthropic-version` header as sent, or null. */
  anthropicVersion: string | null;
  /** Every header as sent, names in lower case. */
  headers: Record<string, string>;
}

/** Options of {@linkcode FakeAnthropic.start}. */
export type FakeAnthropicOptions = FakeServerOptions<MessagesRequestBody, ScriptedReply>;

const JSON_HEADERS = { "content-type": "application/json" };
const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
};
const MODEL_IDS = ["claude-fake-1", "claude-fake-1-thinking"];
const MODELS_BODY = JSON.stringify({
  data: MODEL_IDS.map((id) => ({
    type: "model",
    id,
    display_name: id,
    created_at: "2025-01-01T00:00:00Z",
  })),
  has_more: false,
  first_id: MODEL_IDS[0],
  last_id: MODEL_IDS.at(-1),
});
/** The default reply: echoes the last user message, which proves sessions never share context. */
export function echoReply(body: MessagesRequestBody): ScriptedReply {
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m = body.messages[i];
    if (m.role !== "user") continue;
    if (isToolResultsOnly(m.content)) {
      const results = blocksOf(m.content).map((b) => textOf(b.content ?? ""));
      return { text: `tool results: ${results.join(", ")}` };
    }
    return { text: `echo: ${textOf(m.content)}` };
  }
  return { text: "echo: " };
}

/** An Anthropic error response: `{"type":"error","error":{type,message},"request_id"}`. */
function errorResponse(
  status: number,
  type: string,
  message: string,
  requestId: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(
    JSON.stringify({ type: "error", error: { type, message }, request_id: requestId }),
    { status, headers: { ...JSON_HEADERS, "request-id": requestId, ...headers } },
  );
}

/** One SSE event named for its `type`, as every Anthropic stream event is. */
const sse = (data: { type: string; [key: string]: unknown }) =>
  `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;

/** A scripted reply resolved into what is sent: text, input JSON and usage. */
interface Answer {
  text: string;
  pieces: string[];
  thinking: string;
  signature: string;
  tools: { id: string; name: string; json: string; input: unknown }[];
  stopReason: string;
  usage: Usage;
}

function answer(body: MessagesRequestBody, reply: ScriptedReply, n: number): Answer {
  const text = reply.chunks ? reply.chunks.join("") : reply.text ?? "";
  const tools = (reply.toolCalls ?? []).map((c) => {
    const json = c.arguments ?? JSON.stringify(c.input ?? {});
    let input: unknown = c.input ?? {};
    if (c.arguments !== undefined) {
      // Broken arguments stay broken: a JSON reply then carries them as a string.
      try {
        input = JSON.parse(c.arguments);
      } catch {
        input = c.arguments;
      }
    }
    return { id: c.id, name: c.name, json, input };
  });
  const thinking = reply.thinking ?? "";
  const prompt = JSON.stringify(body.messages).length + JSON.stringify(body.system ?? "").length;
  const output = text.length + thinking.length + tools.reduce((k, t) => k + t.json.length, 0);
  return {
    text,
    pieces: reply.chunks ?? splitText(text),
    thinking,
    // Opaque to callers, who must pass it back unchanged with the thinking block.
    signature: `fake-signature-${n}`,
    tools,
    stopReason: reply.stopReason ?? (tools.length ? "tool_use" : "end_turn"),
    usage: reply.usage ?? {
      input_tokens: estimateTokens(prompt),
      output_tokens: estimateTokens(output),
    },
  };
}

type Usage = { input_tokens: number; output_tokens: number };

/** A Message envelope, as a JSON reply and `message_start` carry it. */
function message(
  id: string,
  model: string,
  content: unknown[],
  stopReason: string | null,
  usage: Usage,
) {
  return {
    id,
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: {
      input_tokens: usage.input_tokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: usage.output_tokens,
      service_tier: "standard",
    },
  };
}

/** The whole reply as one Message. */
function jsonBody(id: string, model: string, a: Answer): string {
  const content: unknown[] = [];
  if (a.thinking) content.push({ type: "thinking", thinking: a.thinking, signature: a.signature });
  if (a.text) content.push({ type: "text", text: a.text });
  for (const t of a.tools) {
    content.push({ type: "tool_use", id: t.id, name: t.name, input: t.input });
  }
  return JSON.stringify(message(id, model, content, a.stopReason, a.usage));
}

/**
 * The reply as SSE events, in the order the real API sends them, with the index just past the
 * last `text_delta` (where a stall stops) and the index of `message_delta`.
 */
function streamEvents(id: string, model: string, a: Answer) {
  const events = [
    sse({
      type: "message_start",
      message: message(id, model, [], null, {
        input_tokens: a.usage.input_tokens,
        output_tokens: 1,
      }),
    }),
  ];
  let index = 0;
  let afterText = 1;
  const block = (start: unknown, deltas: unknown[]) => {
    events.push(sse({ type: "content_block_start", index, content_block: start }));
    if (index === 0) events.push(sse({ type: "ping" }));
    for (const delta of deltas) events.push(sse({ type: "content_block_delta", index, delta }));
    events.push(sse({ type: "content_block_stop", index }));
    index++;
  };
  if (a.thinking) {
    block({ type: "thinking", thinking: "", signature: "" }, [
      ...splitText(a.thinking).map((thinking) => ({ type: "thinking_delta", thinking })),
      { type: "signature_delta", signature: a.signature },
    ]);
  }
  if (a.text) {
    block({ type: "text", text: "" }, a.pieces.map((text) => ({ type: "text_delta", text })));
    afterText = events.length - 1; // the block's stop is not sent by a stall
  }
  for (const t of a.tools) {
    // Like the real API: an empty first piece, then the JSON in fragments.
    block(
      { type: "tool_use", id: t.id, name: t.name, input: {} },
      ["", ...splitEvenly(t.json, 3)].map((partial_json) => ({
        type: "input_json_delta",
        partial_json,
      })),
    );
  }
  if (index === 0) events.push(sse({ type: "ping" }));
  const messageDelta = events.length;
  events.push(
    sse({
      type: "message_delta",
      delta: { stop_reason: a.stopReason, stop_sequence: null },
      usage: { output_tokens: a.usage.output_tokens },
    }),
    sse({ type: "message_stop" }),
  );
  return { events, afterText, messageDelta };
}

let nextId = 0;

/** A fake Anthropic server; `await using fake = await FakeAnthropic.start()`. */
export class FakeAnthropic extends FakeServer<MessagesRequestBody, ScriptedReply, RecordedRequest> {
  /** Base URL without `/v1`, for the SDK's `baseURL` (it appends `/v1/messages`). */
  readonly url: string;

  private constructor(options: FakeAnthropicOptions) {
    super("fake anthropic", options, echoReply);
    this.url = `http://127.0.0.1:${this.port}`;
  }

  /** Starts a server on 127.0.0.1. */
  static start(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
    return Promise.resolve(new FakeAnthropic(options));
  }

  protected async handle(req: Request): Promise<Response> {
    const n = ++nextId;
    const requestId = `req_fake_${n}`;
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === "/v1/models") {
      return new Response(MODELS_BODY, { headers: { ...JSON_HEADERS, "request-id": requestId } });
    }
    if (req.method !== "POST" || path !== "/v1/messages") {
      return errorResponse(404, "not_found_error", `Not found: ${req.method} ${path}`, requestId);
    }

    let body: MessagesRequestBody;
    try {
      body = JSON.parse(await req.text());
    } catch (e) {
      return errorResponse(
        400,
        "invalid_request_error",
        `There was an error parsing the body of your request: ${(e as Error).message}`,
        requestId,
      );
    }
    if (!isObject(body)) {
      return errorResponse(400, "invalid_request_error", "Input should be an object", requestId);
    }
    if (!Array.isArray(body.messages)) {
      const message = body.messages === undefined
        ? "messages: Field required"
        : "messages: Input should be a valid list";
      return errorResponse(400, "invalid_request_error", message, requestId);
    }
    const apiKey = req.headers.get("x-api-key");
    const authorization = req.headers.get("authorization");
    const anthropicVersion = req.headers.get("anthropic-version");
    const headers = Object.fromEntries(req.headers);
    this.record({ body, apiKey, authorization, anthropicVersion, headers });

    // Checked before a scripted reply is taken: the model never sees a rejected request.
    if (!apiKey && !authorization) {
      return errorResponse(401, "authentication_error", "x-api-key header is required", requestId);
    }
    if (!anthropicVersion) {
      return errorResponse(
        400,
        "invalid_request_error",
        "anthropic-version: header is required",
        requestId,
      );
    }
    const problem = requestProblem(body);
    if (problem) return errorResponse(400, "invalid_request_error", problem, requestId);

    const reply = this.nextReply(body);
    if (!(await this.pause(reply))) return new Response(null, { status: 503 });
    const presented = apiKey ?? authorization?.replace(/^Bearer /i, "") ?? "";
    return faultResponse(reply, body, { requestId, presented, viaApiKey: apiKey !== null }) ??
      this.#answer(body, reply, n, requestId);
  }

  #answer(body: MessagesRequestBody, reply: ScriptedReply, n: number, requestId: string): Response {
    const a = answer(body, reply, n);
    const id = `msg_fake_${n}`;
    const model = body.model ?? MODEL_IDS[0];
    if (!body.stream) {
      const json = jsonBody(id, model, a);
      const headers = { ...JSON_HEADERS, "request-id": requestId };
      if (reply.fault === "stall") return this.stream([], "stall", headers);
      if (reply.fault === "cut") {
        return this.stream([json.slice(0, json.length >> 1)], "cut", headers);
      }
      return new Response(json, { headers });
    }

    const headers = { ...SSE_HEADERS, "request-id": requestId };
    const { events, afterText, messageDelta } = streamEvents(id, model, a);
    // message_start and about half of what comes before message_delta.
    const half = 1 + Math.max(1, Math.ceil((messageDelta - 1) / 2));
    switch (reply.fault) {
      case "stall":
        return this.stream(events.slice(0, afterText), "stall", headers);
      case "cut":
        return this.stream(events.slice(0, half), "cut", headers);
      case "stream_error": {
        const error = sse({
          type: "error",
          error: { type: "overloaded_error", message: "Overloaded" },
        });
        return this.stream([...events.slice(0, half), error], "end", headers);
      }
    }
    if (this.chunkDelayMs <= 0) return new Response(events.join(""), { headers });
    return this.stream(events, "end", headers);
  }
}

/**
 * The response of a fault that needs no reply content, or undefined (no fault, or one the reply
 * acts out: `stall`, `cut`, a streamed `stream_error`).
 */
function faultResponse(
  reply: ScriptedReply,
  body: MessagesRequestBody,
  request: { requestId: string; presented: string; viaApiKey: boolean },
): Response | undefined {
  const { requestId } = request;
  const fail = (status: number, type: string, message: string, headers = {}) =>
    errorResponse(status, type, message, requestId, headers);
  switch (reply.fault) {
    case "rate_limit":
      return fail(
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per " +
          "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
        { "retry-after": String(reply.retryAfterSeconds ?? 1) },
      );
    case "overloaded":
      return fail(529, "overloaded_error", "Overloaded");
    case "billing":
      return fail(
        400,
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & " +
          "Billing to upgrade or purchase credits.",
      );
    case "server_error":
      return fail(500, "api_error", "Internal server error");
    case "bad_request":
      return fail(
        400,
        "invalid_request_error",
        "messages: the fake was scripted to reject this request",
      );
    case "context_overflow": {
      const tokens = Math.max(200_001, estimateTokens(JSON.stringify(body.messages).length));
      return fail(
        400,
        "invalid_request_error",
        `prompt is too long: ${tokens} tokens > 200000 maximum`,
      );
    }
    case "unauthorized":
      // Echoes the whole presented key (the real API does not), so tests can prove the
      // provider never repeats upstream text that carries it.
      return fail(
        401,
        "authentication_error",
        `invalid ${request.viaApiKey ? "x-api-key" : "bearer token"}: ${request.presented}`,
      );
    case "bad_json":
      return body.stream
        ? new Response('event: message_start\ndata: {"type": "message_start", <html>\n\n', {
          headers: { ...SSE_HEADERS, "request-id": requestId },
        })
        : new Response('{"id": msg_garbage <html>', {
          headers: { ...JSON_HEADERS, "request-id": requestId },
        });
    case "stream_error":
      // Outside a stream the real API reports an overload as a plain 529.
      return body.stream ? undefined : fail(529, "overloaded_error", "Overloaded");
  }
  return undefined;
}

if (import.meta.main) {
  const flags = parseStandaloneFlags(Deno.args, FAKE_FAULTS);
  const fake = await FakeAnthropic.start({
    port: flags.port,
    latencyMs: flags.latencyMs,
    chunkDelayMs: flags.chunkDelayMs,
    defaultReply: flags.faultRate > 0
      ? randomFaults({
        rate: flags.faultRate,
        faults: flags.faults as FakeFault[],
        fallback: echoReply,
        random: flags.seed === undefined ? undefined : seededRandom(flags.seed),
      })
      : undefined,
  });
  serveUntilSignal(fake);
}
