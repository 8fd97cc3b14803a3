/**
 * A fake OpenAI chat-completions server on 127.0.0.1 that speaks the real wire format (JSON and SSE
 * streaming, tool-call deltas, usage chunks, errors with `retry-after`, cut streams, stalls) and
 * rejects malformed tool-call histories with 400 as the real API does.
 * Used by unit tests, end-to-end tests and `bench/`, so the default path builds one string and
 * returns it: no framework, no per-request timers unless a delay is asked for.
 *
 * Standalone: `deno run --allow-net=127.0.0.1 tests/_servers/openai.ts [--port N] [--latency-ms N]
 * [--chunk-delay-ms N] [--fault-rate R --faults a,b --seed N]` prints `{"url": "...", "port": N}`
 * and serves until SIGTERM/SIGINT.
 */
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
  "server_error",
  "overloaded",
  "bad_request",
  "stall",
  "cut",
  "bad_json",
  "unauthorized",
  "context_overflow",
  "billing",
] as const;

/** A failure the fake can act out instead of answering. */
export type FakeFault = typeof FAKE_FAULTS[number];

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
export type FakeOpenAIOptions = FakeServerOptions<ChatRequestBody, ScriptedReply>;

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

/** An OpenAI error: what the API found wrong, and where. */
interface ApiProblem {
  message: string;
  param: string | null;
  code: string | null;
}

function errorResponse(
  status: number,
  type: string,
  problem: ApiProblem,
  headers: Record<string, string> = {},
): Response {
  const { message, param, code } = problem;
  return new Response(JSON.stringify({ error: { message, type, param, code } }), {
    status,
    headers: { ...JSON_HEADERS, ...headers },
  });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** How the real API names a JSON value's type: "a string", "an object", "null". */
function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/**
 * What the real API rejects in the tool parts of a request, or null: tool messages that answer no
 * call of the assistant message just before them, calls left unanswered, non-string arguments,
 * and malformed `tools`. Messages are worded as the real API words them.
 */
export function toolProblem(body: ChatRequestBody): ApiProblem | null {
  const invalidType = (param: string, expected: string, got: unknown): ApiProblem => ({
    message: `Invalid type for '${param}': expected ${expected}, but got ${typeName(got)} instead.`,
    param,
    code: "invalid_type",
  });
  const missing = (param: string): ApiProblem => ({
    message: `Missing required parameter: '${param}'.`,
    param,
    code: "missing_required_parameter",
  });

  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return invalidType("tools", "an array", body.tools);
    for (const [i, tool] of body.tools.entries()) {
      const at = `tools[${i}]`;
      if (!isObject(tool)) return invalidType(at, "an object", tool);
      if (tool.type !== "function") {
        return {
          message: `Invalid value: ${JSON.stringify(tool.type)}. Supported values are: 'function'.`,
          param: `${at}.type`,
          code: "invalid_value",
        };
      }
      if (tool.function === undefined) return missing(`${at}.function`);
      if (!isObject(tool.function)) {
        return invalidType(`${at}.function`, "an object", tool.function);
      }
      const fn = tool.function;
      if (fn.name === undefined) return missing(`${at}.function.name`);
      if (typeof fn.name !== "string") {
        return invalidType(`${at}.function.name`, "a string", fn.name);
      }
      if (fn.description !== undefined && typeof fn.description !== "string") {
        return invalidType(`${at}.function.description`, "a string", fn.description);
      }
      // Like the real API, `parameters` may be left out; when given it must be an object.
      if (fn.parameters !== undefined && !isObject(fn.parameters)) {
        return invalidType(`${at}.function.parameters`, "an object", fn.parameters);
      }
    }
  }

  /** The assistant message whose calls the following tool messages answer. */
  let open: { index: number; ids: string[]; unanswered: Set<string> } | undefined;
  const unanswered = (): ApiProblem | null =>
    open && open.unanswered.size
      ? {
        message: "An assistant message with 'tool_calls' must be followed by tool messages " +
          "responding to each 'tool_call_id'. The following tool_call_ids did not have response " +
          `messages: ${[...open.unanswered].join(", ")}`,
        param: `messages.[${open.index}].role`,
        code: null,
      }
      : null;

  for (const [i, m] of body.messages.entries()) {
    if (m.role === "tool") {
      if (!open) {
        return {
          message: "Invalid parameter: messages with role 'tool' must be a response to a " +
            "preceeding message with 'tool_calls'.",
          param: `messages.[${i}].role`,
          code: null,
        };
      }
      if (typeof m.tool_call_id !== "string") return missing(`messages[${i}].tool_call_id`);
      if (!open.ids.includes(m.tool_call_id)) {
        return {
          message: `Invalid parameter: 'tool_call_id' of '${m.tool_call_id}' not found in ` +
            "'tool_calls' of previous message.",
          param: `messages.[${i}].tool_call_id`,
          code: null,
        };
      }
      open.unanswered.delete(m.tool_call_id);
      continue;
    }
    const left = unanswered();
    if (left) return left;
    open = undefined;
    if (m.role !== "assistant" || m.tool_calls === undefined || m.tool_calls === null) continue;
    if (!Array.isArray(m.tool_calls)) {
      return invalidType(`messages[${i}].tool_calls`, "an array", m.tool_calls);
    }
    const ids: string[] = [];
    for (const [j, call] of m.tool_calls.entries()) {
      const at = `messages[${i}].tool_calls[${j}]`;
      if (!isObject(call)) return invalidType(at, "an object", call);
      if (typeof call.id !== "string") return missing(`${at}.id`);
      if (call.type === undefined) return missing(`${at}.type`);
      if (call.type !== "function") {
        return {
          message: `Invalid value: ${JSON.stringify(call.type)}. Supported values are: 'function'.`,
          param: `${at}.type`,
          code: "invalid_value",
        };
      }
      if (!isObject(call.function)) return missing(`${at}.function`);
      if (typeof call.function.name !== "string") return missing(`${at}.function.name`);
      const args = call.function.arguments;
      if (args === undefined) return missing(`${at}.function.arguments`);
      if (typeof args !== "string") {
        return invalidType(`${at}.function.arguments`, "a string", args);
      }
      ids.push(call.id);
    }
    if (ids.length) open = { index: i, ids, unanswered: new Set(ids) };
  }
  return unanswered();
}

let nextId = 0;

/** A fake OpenAI server; `await using fake = await FakeOpenAI.start()`. */
export class FakeOpenAI extends FakeServer<ChatRequestBody, ScriptedReply, RecordedRequest> {
  /** Base URL including `/v1`, for the SDK's `baseURL`. */
  readonly url: string;

  private constructor(options: FakeOpenAIOptions) {
    super("fake openai", options, echoReply);
    this.url = `http://127.0.0.1:${this.port}/v1`;
  }

  /** Starts a server on 127.0.0.1. */
  static start(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
    return Promise.resolve(new FakeOpenAI(options));
  }

  protected async handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === "/v1/models") {
      return new Response(MODELS_BODY, { headers: JSON_HEADERS });
    }
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      return errorResponse(404, "invalid_request_error", {
        message: `Invalid URL (${req.method} ${path})`,
        param: null,
        code: null,
      });
    }

    let body: ChatRequestBody;
    try {
      body = JSON.parse(await req.text());
      if (typeof body !== "object" || body === null || !Array.isArray(body.messages)) {
        throw new Error("messages must be an array");
      }
    } catch (e) {
      return errorResponse(400, "invalid_request_error", {
        message: `We could not parse the JSON body of your request: ${(e as Error).message}`,
        param: null,
        code: null,
      });
    }
    const authorization = req.headers.get("authorization");
    this.record({ body, authorization });

    // Checked before a scripted reply is taken: the model never sees a rejected request.
    const problem = toolProblem(body);
    if (problem) return errorResponse(400, "invalid_request_error", problem);

    const reply = this.nextReply(body);
    if (!(await this.pause(reply))) return new Response(null, { status: 503 });

    switch (reply.fault) {
      case "rate_limit": {
        const after = reply.retryAfterSeconds ?? 1;
        return errorResponse(429, "requests", {
          message: `Rate limit reached for requests. Please try again in ${after}s.`,
          param: null,
          code: "rate_limit_exceeded",
        }, { "retry-after": String(after) });
      }
      case "server_error":
        return errorResponse(500, "server_error", {
          message: "The server had an error while processing your request. Sorry about that!",
          param: null,
          code: null,
        });
      case "overloaded":
        return errorResponse(503, "server_error", {
          message: "The engine is currently overloaded, please try again later.",
          param: null,
          code: null,
        });
      case "billing":
        // What OpenAI sends when the quota is spent: a 429 that waiting does not fix.
        return errorResponse(429, "insufficient_quota", {
          message: "You exceeded your current quota, please check your plan and billing details.",
          param: null,
          code: "insufficient_quota",
        });
      case "bad_request":
        return errorResponse(400, "invalid_request_error", {
          message: "Invalid value for 'messages': the fake was scripted to reject this request.",
          param: "messages",
          code: null,
        });
      case "unauthorized": {
        // Echoes the whole presented key (OpenAI echoes a masked one), so tests can prove the
        // provider never repeats upstream text that carries it.
        const key = authorization?.replace(/^Bearer /i, "") ?? "";
        return errorResponse(401, "invalid_request_error", {
          message: `Incorrect API key provided: ${key}. ` +
            "You can find your API key at https://platform.openai.com/account/api-keys.",
          param: null,
          code: "invalid_api_key",
        });
      }
      case "context_overflow":
        return errorResponse(400, "invalid_request_error", {
          message: "This model's maximum context length is 8192 tokens. However, your messages " +
            `resulted in ${estimateTokens(JSON.stringify(body.messages).length)} tokens. ` +
            "Please reduce the length of the messages.",
          param: "messages",
          code: "context_length_exceeded",
        });
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
      usage: usage(body, reply, text),
    });
    if (reply.fault === "stall") return this.stream([], "stall", JSON_HEADERS);
    if (reply.fault === "cut") {
      return this.stream([completion.slice(0, completion.length >> 1)], "cut", JSON_HEADERS);
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
      // OpenAI streams arguments in fragments; two are enough to make the SDK join them.
      for (const part of splitEvenly(call.arguments, 2)) {
        events.push(
          head + JSON.stringify({ tool_calls: [{ index, function: { arguments: part } }] }) + tail,
        );
      }
    });

    if (reply.fault === "stall") return this.stream(events, "stall", SSE_HEADERS);
    if (reply.fault === "cut") {
      // The role chunk and about half the content, then the connection drops: no finish, no [DONE].
      const keep = 1 + Math.max(1, Math.ceil((events.length - 1) / 2));
      return this.stream(events.slice(0, keep), "cut", SSE_HEADERS);
    }

    const finish = JSON.stringify(reply.finishReason ?? (toolCalls.length ? "tool_calls" : "stop"));
    events.push(`${head}{},"logprobs":null,"finish_reason":${finish}}]${usageNull}}\n\n`);
    if (includeUsage) {
      const text = reply.chunks ? reply.chunks.join("") : reply.text ?? "";
      events.push(
        head.slice(0, head.indexOf(`"choices":[`)) +
          `"choices":[],"usage":${JSON.stringify(usage(body, reply, text))}}\n\n`,
      );
    }
    events.push(DONE);

    if (this.chunkDelayMs <= 0) return new Response(events.join(""), { headers: SSE_HEADERS });
    return this.stream(events, "end", SSE_HEADERS);
  }
}

function usage(body: ChatRequestBody, reply: ScriptedReply, text: string) {
  const prompt = reply.usage?.prompt_tokens ??
    estimateTokens(body.messages.reduce((n, m) => n + contentText(m.content).length, 0));
  const completion = reply.usage?.completion_tokens ?? estimateTokens(text.length);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
}

if (import.meta.main) {
  const flags = parseStandaloneFlags(Deno.args, FAKE_FAULTS);
  const fake = await FakeOpenAI.start({
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
