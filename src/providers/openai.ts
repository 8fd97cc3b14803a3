/**
 * The OpenAI provider: chat completions streamed through the `openai` SDK, which works with any
 * OpenAI-compatible server (Ollama, OpenRouter, vLLM). The SDK loads on first use, not at start.
 */
import type { APIError, OpenAI } from "openai";
import { z } from "zod";
import type { ProviderConfig } from "../config/schema.ts";
import {
  type Clock,
  type Logger,
  type ModelRequest,
  type ModelStreamEvent,
  type Provider,
  ProviderError,
  systemClock,
  type TimerId,
} from "../kernel/mod.ts";

/** What the OpenAI provider needs from the composition root. */
export interface OpenAIProviderDeps {
  /** Reads an environment variable (the API key named by `api_key_env`). */
  env: (name: string) => string | undefined;
  logger: Logger;
  /** Times the idle-stream deadline. @default systemClock */
  clock?: Clock;
}

type OpenAIModule = typeof import("openai");

const DEFAULT_BASE_URL = "https://api.openai.com/v1";
/** Sent when no `api_key_env` is configured: local OpenAI-compatible servers ignore it. */
const NO_KEY = "not-needed";

// The SDK types its chunks but checks nothing; this is what we rely on, checked where it enters.
const chunkSchema = z.object({
  choices: z.array(z.object({
    delta: z.object({ content: z.string().nullish() }).nullish(),
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
  const clock = deps.clock ?? systemClock;
  const log = deps.logger.with({ provider: id });
  const baseURL = config.base_url ?? DEFAULT_BASE_URL;
  const host = hostOf(baseURL);
  const timeoutMs = config.timeout_seconds * 1000;
  let loaded: Promise<{ sdk: OpenAIModule; client: OpenAI }> | undefined;

  function apiKey(): string {
    if (!config.api_key_env) return NO_KEY;
    const key = deps.env(config.api_key_env)?.trim();
    if (!key) {
      throw new ProviderError(
        "auth",
        `provider ${id}: env ${config.api_key_env} is not set: export it before starting the gateway`,
      );
    }
    return key;
  }

  function load(key: string) {
    if (loaded) return loaded;
    loaded = import("openai").then((sdk) => {
      log.debug("openai client created", { baseURL: host });
      const client = new sdk.OpenAI({
        baseURL,
        apiKey: key,
        timeout: timeoutMs,
        maxRetries: 0, // the failover chain decides retries
        // Passed explicitly so the SDK does not read OPENAI_* env vars of its own.
        organization: null,
        project: null,
        adminAPIKey: null,
        webhookSecret: null,
        logLevel: "warn",
        logger: sdkLogger(log),
      });
      return { sdk, client };
    });
    loaded.catch(() => {
      loaded = undefined; // a failed import is retried on the next call
    });
    return loaded;
  }

  async function* stream(
    request: ModelRequest,
    signal: AbortSignal,
  ): AsyncGenerator<ModelStreamEvent> {
    if (signal.aborted) throw new ProviderError("aborted", `provider ${id}: request aborted`);
    const key = apiKey();
    let sdk: OpenAIModule | undefined;
    // One controller for the caller's abort and our idle deadline: the SDK's own timeout stops
    // at the response headers, so a stream that goes silent afterwards would hang without it.
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    let lastActivity = clock.now();
    let timer: TimerId | undefined;
    const arm = (ms: number) => {
      timer = clock.setTimeout(() => {
        const idle = clock.now() - lastActivity;
        if (idle < timeoutMs) return arm(timeoutMs - idle);
        timedOut = true;
        controller.abort();
      }, ms);
    };
    arm(timeoutMs);

    try {
      const loadedSdk = await load(key);
      sdk = loadedSdk.sdk;
      const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
      if (request.system) messages.push({ role: "system", content: request.system });
      for (const m of request.messages) messages.push({ role: m.role, content: m.text });
      const completion = await loadedSdk.client.chat.completions.create({
        model: request.model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
        ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
      }, { signal: controller.signal });

      let stopReason: string | undefined;
      for await (const raw of completion) {
        lastActivity = clock.now();
        const parsed = chunkSchema.safeParse(raw);
        if (!parsed.success) {
          throw new ProviderError("server", `provider ${id}: malformed stream chunk from ${host}`, {
            cause: parsed.error,
          });
        }
        const chunk = parsed.data;
        const choice = chunk.choices?.[0];
        if (choice?.delta?.content) yield { type: "text", delta: choice.delta.content };
        if (choice?.finish_reason) stopReason = choice.finish_reason;
        if (chunk.usage) {
          yield {
            type: "usage",
            inputTokens: chunk.usage.prompt_tokens,
            outputTokens: chunk.usage.completion_tokens,
          };
        }
      }
      // The SDK ends the iteration quietly when aborted; say why it ended.
      if (signal.aborted) throw new ProviderError("aborted", `provider ${id}: request aborted`);
      if (timedOut) throw timeoutError(id, config.timeout_seconds);
      if (stopReason === undefined) {
        throw new ProviderError(
          "network",
          `provider ${id}: the stream from ${host} ended before the model finished`,
        );
      }
      yield { type: "done", stopReason };
    } catch (err) {
      const failure = classify(err, {
        id,
        host,
        key,
        keyEnv: config.api_key_env,
        sdk,
        aborted: signal.aborted,
        timedOut,
        timeoutSeconds: config.timeout_seconds,
      });
      log.debug("openai request failed", { kind: failure.kind, status: failure.options.status });
      throw failure;
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      controller.abort(); // releases the response body if the consumer stopped early
    }
  }

  return { id, kind: "openai", stream };
}

interface ClassifyContext {
  id: string;
  host: string;
  key: string;
  keyEnv: string | undefined;
  sdk: OpenAIModule | undefined;
  aborted: boolean;
  timedOut: boolean;
  timeoutSeconds: number;
}

/** Maps any failure of a call to a {@linkcode ProviderError}; messages never carry the key. */
function classify(err: unknown, ctx: ClassifyContext): ProviderError {
  if (err instanceof ProviderError) return err;
  const { id, sdk } = ctx;
  // Our SDK errors may quote the key (a 401 body can echo it): keep them as cause only when clean.
  const cause = err instanceof Error && ctx.key !== NO_KEY && err.message.includes(ctx.key)
    ? undefined
    : err;
  if (ctx.aborted || (sdk && err instanceof sdk.APIUserAbortError && !ctx.timedOut)) {
    return new ProviderError("aborted", `provider ${id}: request aborted`, { cause });
  }
  if (ctx.timedOut || (sdk && err instanceof sdk.APIConnectionTimeoutError)) {
    return timeoutError(id, ctx.timeoutSeconds, cause);
  }
  if (sdk && err instanceof sdk.APIConnectionError) {
    return new ProviderError("network", `provider ${id}: cannot connect to ${ctx.host}`, { cause });
  }
  if (sdk && err instanceof sdk.APIError && typeof err.status === "number") {
    return classifyStatus(err, ctx, cause);
  }
  if (sdk && err instanceof sdk.APIError) {
    // An error event inside a 200 stream: the server gave up mid-answer.
    return new ProviderError("server", `provider ${id}: the server reported an error mid-stream`, {
      cause,
    });
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

function classifyStatus(err: APIError, ctx: ClassifyContext, cause: unknown): ProviderError {
  const status = err.status as number;
  const id = ctx.id;
  const at = `provider ${id}: HTTP ${status}`;
  if (status === 429) {
    const retryAfterMs = retryAfter(err.headers);
    const wait = retryAfterMs !== undefined
      ? `: retry after ${Math.ceil(retryAfterMs / 1000)}s`
      : "";
    return new ProviderError("rate_limit", `${at} rate limited${wait}`, {
      status,
      retryAfterMs,
      cause,
    });
  }
  if (status === 401 || status === 403) {
    const fix = ctx.keyEnv
      ? `check the key in ${ctx.keyEnv}`
      : `set api_key_env in [providers.${id}] to the variable holding the key`;
    return new ProviderError("auth", `${at} the API key was refused: ${fix}`, { status, cause });
  }
  if (status === 402) {
    return new ProviderError("billing", `${at} payment required: check the account's billing`, {
      status,
      cause,
    });
  }
  const detail = upstreamMessage(err, ctx.key);
  if ((status === 400 || status === 413) && isContextOverflow(err, detail)) {
    return new ProviderError(
      "context_overflow",
      `${at} the conversation is longer than the model's context: lower agent.context_tokens`,
      { status, cause },
    );
  }
  if (status >= 400 && status < 500) {
    return new ProviderError("bad_request", detail ? `${at} ${detail}` : `${at} request refused`, {
      status,
      cause,
    });
  }
  if (status === 503 || status === 529) {
    return new ProviderError("overloaded", `${at} overloaded`, { status, cause });
  }
  return new ProviderError("server", `${at} server error`, { status, cause });
}

function isContextOverflow(err: APIError, detail: string): boolean {
  return err.code === "context_length_exceeded" ||
    /context[ _]length|context window|maximum context|too many tokens|prompt is too long/i.test(
      detail,
    );
}

/** The server's own error text, without the key or anything key-shaped, cut short. */
function upstreamMessage(err: APIError, key: string): string {
  const body = err.error as { message?: unknown } | undefined;
  let text = typeof body?.message === "string" ? body.message : "";
  if (key !== NO_KEY) text = text.replaceAll(key, "[key]");
  text = text.replace(/\bsk-[A-Za-z0-9_\-*]{6,}/g, "[key]").replace(/\s+/g, " ").trim();
  return text.length > 200 ? text.slice(0, 199) + "…" : text;
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

function timeoutError(id: string, seconds: number, cause?: unknown): ProviderError {
  return new ProviderError(
    "timeout",
    `provider ${id}: no response for ${seconds}s: raise timeout_seconds in [providers.${id}] if the model is slow`,
    { cause },
  );
}

/** The host of a base URL, for messages: never the path, query or userinfo. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "the configured base_url";
  }
}

/**
 * Routes the SDK's own log lines to our logger, message only (its extra arguments may hold
 * headers). Its errors go to debug: every failure reaches the caller as a ProviderError anyway.
 */
function sdkLogger(log: Logger) {
  return {
    error: (msg: string) => log.debug(`openai sdk: ${msg}`),
    warn: (msg: string) => log.warn(`openai sdk: ${msg}`),
    info: (msg: string) => log.debug(`openai sdk: ${msg}`),
    debug: (msg: string) => log.debug(`openai sdk: ${msg}`),
  };
}
