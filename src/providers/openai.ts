/**
 * The OpenAI provider: chat completions streamed through the `openai` SDK, which works with any
 * OpenAI-compatible server (Ollama, OpenRouter, vLLM). The SDK loads on first use, not at start.
 */
import type { APIError, OpenAI } from "openai";
import { z } from "zod";
import type { ProviderConfig } from "../config/schema.ts";
import {
  type ModelRequest,
  type ModelStreamEvent,
  type Provider,
  ProviderError,
  type StopReason,
  type ToolCall,
} from "../kernel/mod.ts";
import { cutError, isContextOverflowText, malformedError } from "./errors.ts";
import type { GuardedCall } from "./guarded_stream.ts";
import {
  type CallTarget,
  createSdkProvider,
  sdkLogger,
  type SdkProviderDeps,
} from "./sdk_provider.ts";

/** What the OpenAI provider needs from the composition root. */
export type OpenAIProviderDeps = SdkProviderDeps;

type ChatMessage = OpenAI.Chat.ChatCompletionMessageParam;
type ChatTool = OpenAI.Chat.ChatCompletionTool;

// The SDK types its chunks but checks nothing; this is what we rely on, checked where it enters.
const toolCallDeltaSchema = z.object({
  // OpenAI always sends it; a few compatible servers leave it out.
  index: z.number().int().min(0).nullish(),
  id: z.string().nullish(),
  function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});
type ToolCallDelta = z.output<typeof toolCallDeltaSchema>;
const chunkSchema = z.object({
  choices: z.array(z.object({
    delta: z.object({
      content: z.string().nullish(),
      tool_calls: z.array(toolCallDeltaSchema).nullish(),
    }).nullish(),
    finish_reason: z.string().nullish(),
  })).nullish(),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).nullish(),
});

/** Creates the provider `id` from its config; nothing is loaded or read until the first call. */
export function createOpenAIProvider(
  id: string,
  config: ProviderConfig,
  deps: OpenAIProviderDeps,
): Provider {
  return createSdkProvider<OpenAI>(id, config, deps, {
    kind: "openai",
    defaultBaseURL: "https://api.openai.com/v1",
    async connect({ baseURL, key, timeoutMs, log }) {
      const sdk = await import("openai");
      const client = new sdk.OpenAI({
        baseURL,
        apiKey: key,
        timeout: timeoutMs,
        maxRetries: 0, // the failover chain decides retries
        // Passed explicitly so the SDK does not read OPENAI_* env vars of its own (it still reads
        // OPENAI_CUSTOM_HEADERS, which the permissions ignore: see OPENAI_SDK_ENV).
        organization: null,
        project: null,
        adminAPIKey: null,
        webhookSecret: null,
        logLevel: "warn",
        logger: sdkLogger(log, "openai"),
      });
      return { sdk, client };
    },
    call: streamChat,
    upstream: (err) => {
      const { error, code } = err as APIError;
      const message = (error as { message?: unknown } | undefined)?.message;
      return {
        message: typeof message === "string" ? message : "",
        code: typeof code === "string" ? code : null,
      };
    },
    // An error event inside a 200 stream: the server gave up mid-answer (or found the
    // conversation too long only once it started).
    midStream: (err, cause, { id }) =>
      isContextOverflowText((err as APIError).message ?? "")
        ? new ProviderError(
          "context_overflow",
          `provider ${id}: the conversation is longer than the model's context: lower agent.context_tokens`,
          { cause },
        )
        : new ProviderError("server", `provider ${id}: the server reported an error mid-stream`, {
          cause,
        }),
  });
}

/** Streams one chat completion and translates its chunks. */
async function* streamChat(
  client: OpenAI,
  request: ModelRequest,
  guard: GuardedCall,
  { id, host }: CallTarget,
): AsyncGenerator<ModelStreamEvent> {
  const tools = toChatTools(request);
  const completion = await client.chat.completions.create({
    model: request.model,
    messages: toChatMessages(request),
    stream: true,
    stream_options: { include_usage: true },
    ...(tools ? { tools } : {}),
    ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
  }, { signal: guard.signal });

  const calls = new ToolCallAssembler();
  let finishReason: string | undefined;
  for await (const raw of completion) {
    guard.activity();
    const parsed = chunkSchema.safeParse(raw);
    if (!parsed.success) throw malformedError(id, host, parsed.error);
    const chunk = parsed.data;
    const choice = chunk.choices?.[0];
    if (choice?.delta?.content) yield { type: "text", delta: choice.delta.content };
    for (const delta of choice?.delta?.tool_calls ?? []) calls.add(delta);
    if (choice?.finish_reason) finishReason = choice.finish_reason;
    if (chunk.usage) {
      yield {
        type: "usage",
        inputTokens: chunk.usage.prompt_tokens,
        outputTokens: chunk.usage.completion_tokens,
      };
    }
  }
  guard.throwIfStopped();
  if (finishReason === undefined) throw cutError(id, host);
  for (const call of calls.finish()) yield { type: "tool_call", call };
  yield { type: "done", stopReason: stopReason(finishReason) };
}

/** The request's system prompt and messages as chat-completions messages. */
function toChatMessages(request: ModelRequest): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (request.system) out.push({ role: "system", content: request.system });
  for (const m of request.messages) {
    switch (m.role) {
      case "user":
        out.push({ role: "user", content: m.text });
        break;
      case "assistant":
        // Reasoning blocks are another provider's; chat completions has no place for them.
        if (m.toolCalls?.length) {
          out.push({
            role: "assistant",
            content: m.text === "" ? null : m.text,
            tool_calls: m.toolCalls.map((c) => ({
              id: c.id,
              type: "function",
              function: { name: c.name, arguments: c.arguments },
            })),
          });
        } else out.push({ role: "assistant", content: m.text });
        break;
      case "tool":
        for (const r of m.results) {
          out.push({ role: "tool", tool_call_id: r.callId, content: r.content });
        }
        break;
    }
  }
  return out;
}

/** The request's tools as function tools, or undefined when it has none. */
function toChatTools(request: ModelRequest): ChatTool[] | undefined {
  if (!request.tools?.length) return undefined;
  return request.tools.map((t) => ({
    type: "function",
    function: { name: t.name, description: t.description, parameters: t.parameters },
  }));
}

function stopReason(finishReason: string): StopReason {
  switch (finishReason) {
    case "stop":
      return "end";
    case "tool_calls":
    case "function_call":
      return "tool_use";
    case "length":
      return "max_tokens";
    default:
      return finishReason;
  }
}

/** Reassembles streamed tool-call deltas: the first names the call, later ones add argument text. */
class ToolCallAssembler {
  #calls = new Map<number | string, { id: string; name: string; args: string[] }>();
  #last: number | string | undefined;

  add(delta: ToolCallDelta): void {
    // Without an index, a new id starts a new call and anything else continues the last one.
    const slot = delta.index ?? (delta.id ? `id:${delta.id}` : this.#last ?? 0);
    this.#last = slot;
    let call = this.#calls.get(slot);
    if (!call) this.#calls.set(slot, call = { id: "", name: "", args: [] });
    if (delta.id) call.id = delta.id;
    if (delta.function?.name) call.name = delta.function.name;
    if (delta.function?.arguments) call.args.push(delta.function.arguments);
  }

  /** The whole calls, in the order they started. */
  finish(): ToolCall[] {
    return [...this.#calls.values()].map((c, i) => ({
      // Results quote the id, so a server that sent none still gets one.
      id: c.id || `call_${i}`,
      name: c.name,
      arguments: c.args.join(""),
    }));
  }
}
