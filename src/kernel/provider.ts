/** The provider contract: provider-neutral requests and stream events. The agent loop never sees an SDK type. */
import type { Logger } from "./logger.ts";

/** A tool call the model made. `arguments` is the JSON text as the model wrote it (it may be invalid). */
export interface ToolCall {
  /** The provider's call id; results quote it. */
  id: string;
  name: string;
  arguments: string;
}

/** The outcome of one tool call, fed back to the model. */
export interface ToolResult {
  callId: string;
  name: string;
  /** Text shown to the model: the tool's output, or what went wrong. */
  content: string;
  isError: boolean;
}

/**
 * A block of the model's extended thinking. Providers that need it back within a tool loop get it
 * back (Anthropic checks the signature); others ignore it. Never stored, never shown.
 */
export interface ReasoningBlock {
  text?: string;
  signature?: string;
  /** An encrypted block the provider returned instead of text. */
  redacted?: string;
}

/** One message of model context. */
export type ModelMessage =
  | { role: "user"; text: string }
  | { role: "assistant"; text: string; toolCalls?: ToolCall[]; reasoning?: ReasoningBlock[] }
  /** Results of the tool calls of the assistant message right before, in call order. */
  | { role: "tool"; results: ToolResult[] };

/** A tool as the model sees it: name, description and a JSON Schema of its parameters. */
export interface ToolSpec {
  name: string;
  description: string;
  /** A JSON Schema object (`{"type": "object", ...}`). */
  parameters: Record<string, unknown>;
}

/** What the agent asks a model for. */
export interface ModelRequest {
  /** The model name as the provider knows it (without the `<provider>/` prefix). */
  model: string;
  system?: string;
  messages: ModelMessage[];
  /** Tools the model may call; none when empty or unset. */
  tools?: ToolSpec[];
  maxTokens?: number;
  /** Extended-thinking budget in tokens, for providers that support it; unset or 0 is off. */
  thinkingTokens?: number;
}

/** Why a model stopped: finished, wants tool results, or hit the output cap. Other values pass through. */
export type StopReason = "end" | "tool_use" | "max_tokens" | (string & Record<never, never>);

/** What a provider streams back. A stream ends after exactly one `done`, or throws a {@linkcode ProviderError}. */
export type ModelStreamEvent =
  | { type: "text"; delta: string }
  /** A whole tool call, emitted once its arguments are complete. */
  | { type: "tool_call"; call: ToolCall }
  | { type: "reasoning"; block: ReasoningBlock }
  | { type: "usage"; inputTokens: number; outputTokens: number }
  | { type: "done"; stopReason: StopReason };

/** Why a provider call failed; the failover chain decides on this. */
export type FailureKind =
  | "rate_limit"
  | "overloaded"
  | "timeout"
  | "network"
  | "auth"
  | "billing"
  | "server"
  | "bad_request"
  | "context_overflow"
  | "aborted";

/** A classified provider failure. `message` is safe to show: it never contains a key. */
export class ProviderError extends Error {
  override name = "ProviderError";
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
  }
}

/** A configured model provider. */
export interface Provider {
  /** The config id, the `<provider>` in `agent.model = "<provider>/<model>"`. */
  readonly id: string;
  readonly kind: string;
  /**
   * Streams one completion; aborting `signal` ends the stream with a `ProviderError("aborted")`.
   * `options.log` is the turn's logger, so the provider's lines carry its runId and sessionKey.
   */
  stream(
    request: ModelRequest,
    signal: AbortSignal,
    options?: StreamOptions,
  ): AsyncIterable<ModelStreamEvent>;
}

/** Options of {@linkcode Provider.stream}. */
export interface StreamOptions {
  /** Where the call's log lines go. @default the provider's own logger */
  log?: Logger;
}

/** Finds the provider for a `<provider>/<model>` reference. */
export interface ModelResolver {
  resolve(
    ref: string,
  ): { ok: true; provider: Provider; model: string } | { ok: false; reason: string };
}
