/**
 * Failure classification shared by the SDK-backed providers: every error of a call becomes a
 * {@linkcode ProviderError} with a kind the failover chain acts on and a message that is safe to
 * show (it never carries the API key).
 */
import { type FailureKind, ProviderError } from "../kernel/mod.ts";
import type { WatchdogPhase } from "./idle_watchdog.ts";

/** The SDK error classes both `openai` and `@anthropic-ai/sdk` export under these names. */
export interface SdkErrorClasses {
  APIError: abstract new (...args: never[]) => ApiErrorLike;
  APIUserAbortError: abstract new (...args: never[]) => Error;
  APIConnectionError: abstract new (...args: never[]) => Error;
  APIConnectionTimeoutError: abstract new (...args: never[]) => Error;
}

/** What both SDKs' `APIError` carry: the HTTP status and headers when there was a response. */
export interface ApiErrorLike extends Error {
  readonly status: number | undefined;
  readonly headers: Headers | undefined;
}

/** What the upstream said about an error: its message and machine-readable code, if any. */
export interface UpstreamError {
  message: string;
  code?: string | null;
  /** The error's type, where the API names one (`billing_error`). */
  type?: string | null;
}

/** Where a call stood when it failed. */
export interface CallState {
  /** The caller's signal aborted. */
  aborted: boolean;
  /** A deadline of the idle watchdog passed. */
  timedOut: WatchdogPhase | undefined;
}

/** A provider's side of classification. */
export interface FailureContext {
  id: string;
  /** The API host, for messages (never the path or userinfo). */
  host: string;
  /** The key sent, to scrub from messages; undefined when none is configured. */
  key: string | undefined;
  keyEnv: string | undefined;
  timeoutSeconds: number;
  idleTimeoutSeconds: number;
  /** The loaded SDK's error classes; undefined when the SDK did not load. */
  sdk: SdkErrorClasses | undefined;
  /** Reads the upstream message and code out of an SDK error. */
  upstream: (err: ApiErrorLike) => UpstreamError;
  /** Classifies an error the server reported inside a stream that had started (no HTTP status). */
  midStream: (err: ApiErrorLike, cause: unknown) => ProviderError;
}

/** Upstream wording of a conversation too long for the model's context. */
const CONTEXT_OVERFLOW =
  /context[ _]length|context window|maximum context|too many tokens|prompt is too long/i;
/** Upstream wording of an account out of money. */
const BILLING = /credit balance is too low|billing|insufficient credit/i;

/** The message of a call the caller aborted. */
export function abortedError(id: string, cause?: unknown): ProviderError {
  return new ProviderError("aborted", `provider ${id}: request aborted`, { cause });
}

/** The message of a call that passed one of its deadlines. */
export function timeoutError(
  id: string,
  phase: WatchdogPhase,
  seconds: number,
  cause?: unknown,
): ProviderError {
  const message = phase === "start"
    ? `provider ${id}: no response for ${seconds}s: raise timeout_seconds in [providers.${id}] if the model is slow`
    : `provider ${id}: the stream went silent for ${seconds}s: raise idle_timeout_seconds in [providers.${id}] if the model pauses that long`;
  return new ProviderError("timeout", message, { cause });
}

/** A stream that ended before the model finished: the connection was cut. */
export function cutError(id: string, host: string): ProviderError {
  return new ProviderError(
    "network",
    `provider ${id}: the stream from ${host} ended before the model finished`,
  );
}

/** A stream event without the shape we rely on. */
export function malformedError(id: string, host: string, cause: unknown): ProviderError {
  return new ProviderError("server", `provider ${id}: malformed stream event from ${host}`, {
    cause,
  });
}

/** Maps any failure of a call to a {@linkcode ProviderError}; messages never carry the key. */
export function classifyFailure(
  err: unknown,
  state: CallState,
  ctx: FailureContext,
): ProviderError {
  const { id, sdk } = ctx;
  if (err instanceof ProviderError) return err;
  const cause = safeCause(err, ctx.key);
  // An abort or a passed deadline explains whatever error the cut-off call ended with.
  if (state.aborted) return abortedError(id, cause);
  if (state.timedOut) {
    const seconds = state.timedOut === "start" ? ctx.timeoutSeconds : ctx.idleTimeoutSeconds;
    return timeoutError(id, state.timedOut, seconds, cause);
  }
  // The SDK read env or reached a host this process was not granted: a setup fault, like a bad key.
  const denied = notPermitted(err);
  if (denied) {
    return new ProviderError(
      "auth",
      `provider ${id}: not permitted: ${denied}: ` +
        "restart the gateway with the flags `gatehouse permissions` prints",
      { cause },
    );
  }
  if (sdk && err instanceof sdk.APIUserAbortError) return abortedError(id, cause);
  if (sdk && err instanceof sdk.APIConnectionTimeoutError) {
    return timeoutError(id, "start", ctx.timeoutSeconds, cause);
  }
  if (sdk && err instanceof sdk.APIConnectionError) {
    return new ProviderError("network", `provider ${id}: cannot connect to ${ctx.host}`, { cause });
  }
  if (sdk && err instanceof sdk.APIError) {
    return typeof err.status === "number"
      ? classifyStatus(err, err.status, ctx, cause)
      : ctx.midStream(err, cause);
  }
  if (err instanceof TypeError && /body|connection|stream/i.test(err.message)) {
    // Deno's fetch reports a connection dropped mid-body as a TypeError while reading it.
    return new ProviderError("network", `provider ${id}: the connection to ${ctx.host} dropped`, {
      cause,
    });
  }
  return new ProviderError("server", `provider ${id}: unreadable response from ${ctx.host}`, {
    cause,
  });
}

function classifyStatus(
  err: ApiErrorLike,
  status: number,
  ctx: FailureContext,
  cause: unknown,
): ProviderError {
  const at = `provider ${ctx.id}: HTTP ${status}`;
  const fail = (kind: FailureKind, message: string, retryAfterMs?: number) =>
    new ProviderError(kind, message, { status, retryAfterMs, cause });
  const upstream = ctx.upstream(err);
  const detail = redact(upstream.message, ctx.key);
  // OpenAI answers an exhausted quota with 429 too: it is billing, not a passing rate limit.
  if (
    status === 402 || upstream.type === "billing_error" || upstream.code === "insufficient_quota" ||
    upstream.type === "insufficient_quota" || (status < 500 && BILLING.test(detail))
  ) {
    return fail("billing", `${at} payment required: check the account's billing or quota`);
  }
  if (status === 429) {
    const retryAfterMs = retryAfter(err.headers);
    const wait = retryAfterMs !== undefined
      ? `: retry after ${Math.ceil(retryAfterMs / 1000)}s`
      : "";
    return fail("rate_limit", `${at} rate limited${wait}`, retryAfterMs);
  }
  if (status === 401 || status === 403) {
    const fix = ctx.keyEnv
      ? `check the key in ${ctx.keyEnv}`
      : `set api_key_env in [providers.${ctx.id}] to the variable holding the key`;
    return fail("auth", `${at} the API key was refused: ${fix}`);
  }
  if (
    (status === 400 || status === 413) &&
    (upstream.code === "context_length_exceeded" || CONTEXT_OVERFLOW.test(detail))
  ) {
    return fail(
      "context_overflow",
      `${at} the conversation is longer than the model's context: lower agent.context_tokens`,
    );
  }
  if (status === 408) return fail("timeout", `${at} the server timed out the request`);
  if (status >= 400 && status < 500) {
    return fail("bad_request", detail ? `${at} ${detail}` : `${at} request refused`);
  }
  if (status === 503 || status === 529) return fail("overloaded", `${at} overloaded`);
  return fail("server", `${at} server error`);
}

/** Whether upstream text says the conversation is too long for the model. */
export function isContextOverflowText(text: string): boolean {
  return CONTEXT_OVERFLOW.test(text);
}

/**
 * The server's own error text without the key or anything key-shaped, on one line, cut short.
 * `key` undefined means no key was sent.
 */
export function redact(text: string, key: string | undefined): string {
  if (key) text = text.replaceAll(key, "[key]");
  text = text.replace(/\bsk-[A-Za-z0-9_\-*]{6,}/g, "[key]").replace(/\s+/g, " ").trim();
  return text.length > 200 ? text.slice(0, 199) + "…" : text;
}

/** What Deno refused, from a NotCapable thrown by the SDK or wrapped in its connection error. */
function notPermitted(err: unknown): string | undefined {
  for (const e of [err, err instanceof Error ? err.cause : undefined]) {
    if (e instanceof Deno.errors.NotCapable) return e.message.replace(/, run again.*$/, "");
  }
  return undefined;
}

/** `err` as a cause, unless its message quotes the key (a 401 body can echo it). */
function safeCause(err: unknown, key: string | undefined): unknown {
  return key && err instanceof Error && err.message.includes(key) ? undefined : err;
}

/** Milliseconds from `retry-after-ms`, or `retry-after` seconds or HTTP date. */
function retryAfter(headers: Headers | undefined): number | undefined {
  const ms = Number.parseFloat(headers?.get("retry-after-ms") ?? "");
  if (Number.isFinite(ms) && ms >= 0) return Math.round(ms);
  const value = headers?.get("retry-after");
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** The host of a base URL, for messages: never the path, query or userinfo. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "the configured base_url";
  }
}
