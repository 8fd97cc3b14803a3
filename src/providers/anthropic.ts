/**
 * The Anthropic provider: the Messages API streamed through `@anthropic-ai/sdk`, with tool use and
 * extended thinking. The SDK loads on first use, not at start.
 */
import type { Anthropic, APIError } from "@anthropic-ai/sdk";
import { z } from "zod";
import type { ProviderConfig } from "../config/schema.ts";
import {
  type FailureKind,
  type ModelRequest,
  type ModelStreamEvent,
  type Provider,
  ProviderError,
  type StopReason,
} from "../kernel/mod.ts";
import { toAnthropicParams } from "./anthropic_request.ts";
import { cutError, isContextOverflowText, malformedError, redact } from "./errors.ts";
import type { GuardedCall } from "./guarded_stream.ts";
import {
  type CallTarget,
  createSdkProvider,
  sdkLogger,
  type SdkProviderDeps,
} from "./sdk_provider.ts";

/** What the Anthropic provider needs from the composition root. */
export type AnthropicProviderDeps = SdkProviderDeps;

// The SDK types its events but checks nothing; this is what we rely on, checked where it enters.
const usageSchema = z.object({
  input_tokens: z.number().nullish(),
  output_tokens: z.number().nullish(),
  cache_creation_input_tokens: z.number().nullish(),
  cache_read_input_tokens: z.number().nullish(),
}).nullish();
const eventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("message_start"), message: z.object({ usage: usageSchema }) }),
  z.object({
    type: z.literal("content_block_start"),
    index: z.number().int(),
    content_block: z.object({
      type: z.string(),
      id: z.string().nullish(),
      name: z.string().nullish(),
      text: z.string().nullish(),
      thinking: z.string().nullish(),
      signature: z.string().nullish(),
      data: z.string().nullish(),
    }),
  }),
  z.object({
    type: z.literal("content_block_delta"),
    index: z.number().int(),
    delta: z.object({
      type: z.string(),
      text: z.string().nullish(),
      partial_json: z.string().nullish(),
      thinking: z.string().nullish(),
      signature: z.string().nullish(),
    }),
  }),
  z.object({ type: z.literal("content_block_stop"), index: z.number().int() }),
  z.object({
    type: z.literal("message_delta"),
    delta: z.object({ stop_reason: z.string().nullish() }),
    usage: usageSchema,
  }),
  z.object({ type: z.literal("message_stop") }),
]);
/** Event types read; others (new ones the API may add) are skipped. */
const EVENT_TYPES = new Set<string>(eventSchema.options.map((o) => o.shape.type.value));

/** How an `error` event's type inside a started stream maps to a failure kind. */
const STREAM_ERROR_KINDS: Record<string, FailureKind> = {
  overloaded_error: "overloaded",
  rate_limit_error: "rate_limit",
  api_error: "server",
  timeout_error: "timeout",
  authentication_error: "auth",
  permission_error: "auth",
  billing_error: "billing",
  invalid_request_error: "bad_request",
  request_too_large: "bad_request",
  not_found_error: "bad_request",
};

/** Creates the provider `id` from its config; nothing is loaded or read until the first call. */
export function createAnthropicProvider(
  id: string,
  config: ProviderConfig,
  deps: AnthropicProviderDeps,
): Provider {
  return createSdkProvider<Anthropic>(id, config, deps, {
    kind: "anthropic",
    defaultBaseURL: "https://api.anthropic.com",
    async connect({ baseURL, key, timeoutMs, log }) {
      const sdk = await import("@anthropic-ai/sdk");
      // Every option the SDK would otherwise take from the environment, or from its credential
      // chain of env vars and files, is passed. It then reads only ANTHROPIC_CUSTOM_HEADERS,
      // which it always reads and the permissions fence with --ignore-env.
      const client = new sdk.Anthropic({
        baseURL,
        apiKey: key, // sent as `Authorization: Bearer <key>` by this SDK version
        authToken: null,
        webhookKey: null,
        timeout: timeoutMs,
        maxRetries: 0, // the failover chain decides retries
        openTelemetry: false,
        logLevel: "warn",
        logger: sdkLogger(log, "anthropic"),
      });
      return { sdk, client };
    },
    call: streamMessage,
    upstream: (err) => {
      const { apiMessage, errorCode, type } = err as APIError;
      return { message: apiMessage ?? "", code: errorCode, type };
    },
    midStream: (err, cause, { id, key }) => streamError(id, err as APIError, key, cause),
  });
}

/** Streams one message and translates its events. */
async function* streamMessage(
  client: Anthropic,
  request: ModelRequest,
  guard: GuardedCall,
  target: CallTarget,
): AsyncGenerator<ModelStreamEvent> {
  const events = await client.messages.create(toAnthropicParams(request), {
    signal: guard.signal,
  });
  yield* readEvents(events, guard, target);
}

/** A content block being streamed, kept until its `content_block_stop`. */
type OpenBlock =
  | { type: "tool_use"; id: string; name: string; json: string[] }
  | { type: "thinking"; text: string; signature: string }
  | { type: "redacted_thinking"; data: string };

/** Translates the raw stream events into ours. */
async function* readEvents(
  events: AsyncIterable<Anthropic.RawMessageStreamEvent>,
  guard: GuardedCall,
  { id, host }: CallTarget,
): AsyncGenerator<ModelStreamEvent> {
  const malformed = (cause: unknown) => malformedError(id, host, cause);
  const open = new Map<number, OpenBlock>();
  const usage = { input: 0, cacheWrite: 0, cacheRead: 0, output: 0, seen: false };
  let stopReason: string | undefined;
  let stopped = false;

  for await (const raw of events) {
    guard.activity();
    const type = (raw as { type?: unknown } | null)?.type;
    if (typeof type === "string" && !EVENT_TYPES.has(type)) continue;
    const parsed = eventSchema.safeParse(raw);
    if (!parsed.success) throw malformed(parsed.error);
    const event = parsed.data;
    switch (event.type) {
      case "message_start":
      case "message_delta": {
        // message_start carries the input count; message_delta the final (cumulative) counts.
        const u = event.type === "message_start" ? event.message.usage : event.usage;
        if (u) {
          usage.seen = true;
          usage.input = u.input_tokens ?? usage.input;
          usage.cacheWrite = u.cache_creation_input_tokens ?? usage.cacheWrite;
          usage.cacheRead = u.cache_read_input_tokens ?? usage.cacheRead;
          usage.output = u.output_tokens ?? usage.output;
        }
        if (event.type === "message_delta") stopReason = event.delta.stop_reason ?? stopReason;
        break;
      }
      case "content_block_start": {
        const block = event.content_block;
        if (block.type === "text" && block.text) yield { type: "text", delta: block.text };
        else if (block.type === "tool_use") {
          if (!block.id || !block.name) throw malformed(block);
          open.set(event.index, { type: "tool_use", id: block.id, name: block.name, json: [] });
        } else if (block.type === "thinking") {
          open.set(event.index, {
            type: "thinking",
            text: block.thinking ?? "",
            signature: block.signature ?? "",
          });
        } else if (block.type === "redacted_thinking") {
          open.set(event.index, { type: "redacted_thinking", data: block.data ?? "" });
        }
        break;
      }
      case "content_block_delta": {
        const { delta } = event;
        const block = open.get(event.index);
        if (delta.type === "text_delta" && delta.text) yield { type: "text", delta: delta.text };
        else if (block?.type === "tool_use" && delta.partial_json) {
          block.json.push(delta.partial_json);
        } else if (block?.type === "thinking") {
          block.text += delta.thinking ?? "";
          block.signature += delta.signature ?? "";
        }
        break;
      }
      case "content_block_stop": {
        const block = open.get(event.index);
        open.delete(event.index);
        if (block?.type === "tool_use") {
          const args = block.json.join("");
          yield {
            type: "tool_call",
            call: { id: block.id, name: block.name, arguments: args === "" ? "{}" : args },
          };
        } else if (block?.type === "thinking") {
          yield {
            type: "reasoning",
            block: { text: block.text, ...(block.signature ? { signature: block.signature } : {}) },
          };
        } else if (block?.type === "redacted_thinking") {
          yield { type: "reasoning", block: { redacted: block.data } };
        }
        break;
      }
      case "message_stop":
        stopped = true;
        break;
    }
  }
  guard.throwIfStopped();
  if (!stopped) throw cutError(id, host);
  if (usage.seen) {
    yield {
      type: "usage",
      inputTokens: usage.input + usage.cacheWrite + usage.cacheRead,
      outputTokens: usage.output,
    };
  }
  yield { type: "done", stopReason: toStopReason(stopReason) };
}

/** Our stop reason: the API's own `tool_use` and `max_tokens` already match; others pass through. */
function toStopReason(reason: string | undefined): StopReason {
  return reason === undefined || reason === "end_turn" || reason === "stop_sequence"
    ? "end"
    : reason;
}

/** An `error` event inside a stream that had started: the server gave up mid-answer. */
function streamError(
  id: string,
  err: APIError,
  key: string | undefined,
  cause: unknown,
): ProviderError {
  const type = err.type ?? "error";
  const detail = redact(err.apiMessage ?? "", key);
  let kind = STREAM_ERROR_KINDS[type] ?? "server";
  if (kind === "bad_request" && isContextOverflowText(detail)) kind = "context_overflow";
  const message = kind === "context_overflow"
    ? `provider ${id}: the conversation is longer than the model's context: lower agent.context_tokens`
    : `provider ${id}: the server reported ${type} mid-stream${detail ? `: ${detail}` : ""}`;
  return new ProviderError(kind, message, { cause });
}
