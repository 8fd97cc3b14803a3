/** The provider contract: provider-neutral requests and stream events. The agent loop never sees an SDK type. */

/** One message of model context. */
export interface ChatMessage {
  role: "user" | "assistant";
  text: string;
}

/** What the agent asks a model for. */
export interface ModelRequest {
  /** The model name as the provider knows it (without the `<provider>/` prefix). */
  model: string;
  system?: string;
  messages: ChatMessage[];
  maxTokens?: number;
}

/** What a provider streams back. A stream ends after exactly one `done`, or throws a {@linkcode ProviderError}. */
export type ModelStreamEvent =
  | { type: "text"; delta: string }
  | { type: "usage"; inputTokens: number; outputTokens: number }
  | { type: "done"; stopReason: string };

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
  /** Streams one completion; aborting `signal` ends the stream with a `ProviderError("aborted")`. */
  stream(request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelStreamEvent>;
}
