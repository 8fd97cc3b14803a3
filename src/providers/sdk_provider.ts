/**
 * What the SDK-backed providers share: the key read from the configured env var, the SDK imported
 * and its client built on the first call, the call run inside the abort and deadline frame, and
 * every failure classified. A provider adds only its client, translation and error wording.
 */
import type { ProviderConfig } from "../config/schema.ts";
import {
  type Clock,
  type Logger,
  type ModelRequest,
  type ModelStreamEvent,
  type Provider,
  ProviderError,
  type StreamOptions,
  systemClock,
} from "../kernel/mod.ts";
import {
  type ApiErrorLike,
  classifyFailure,
  hostOf,
  type SdkErrorClasses,
  type UpstreamError,
} from "./errors.ts";
import { type GuardedCall, guardedStream } from "./guarded_stream.ts";

/** What an SDK-backed provider needs from the composition root. */
export interface SdkProviderDeps {
  /** Reads an environment variable (the API key named by `api_key_env`). */
  env: (name: string) => string | undefined;
  logger: Logger;
  /** Times the start and idle deadlines. @default systemClock */
  clock?: Clock;
}

/** Where a call goes, for messages: the provider id and the API host. */
export interface CallTarget {
  id: string;
  host: string;
}

/** One provider's side: how to build its client, stream through it and read its errors. */
export interface SdkProviderSpec<C> {
  kind: string;
  /** The API root when `base_url` is unset. */
  defaultBaseURL: string;
  /** Imports the SDK and builds the client; runs once, on the first call (again if it failed). */
  connect(options: {
    baseURL: string;
    key: string;
    timeoutMs: number;
    log: Logger;
  }): Promise<{ sdk: SdkErrorClasses; client: C }>;
  /** Streams one request through the client, calling `guard.activity()` on every event. */
  call(
    client: C,
    request: ModelRequest,
    guard: GuardedCall,
    target: CallTarget,
  ): AsyncIterable<ModelStreamEvent>;
  /** Reads the upstream message and code out of an SDK error with an HTTP status. */
  upstream(err: ApiErrorLike): UpstreamError;
  /** Classifies an error the server reported inside a started stream; `key` to scrub. */
  midStream(
    err: ApiErrorLike,
    cause: unknown,
    target: CallTarget & { key: string | undefined },
  ): ProviderError;
}

/** Sent when no `api_key_env` is configured: keyless servers ignore it, and the SDK gets a key. */
export const NO_KEY = "not-needed";

/** Creates the provider `id` from its config; nothing is loaded or read until the first call. */
export function createSdkProvider<C>(
  id: string,
  config: ProviderConfig,
  deps: SdkProviderDeps,
  spec: SdkProviderSpec<C>,
): Provider {
  const clock = deps.clock ?? systemClock;
  const log = deps.logger.with({ provider: id });
  const baseURL = config.base_url ?? spec.defaultBaseURL;
  const target: CallTarget = { id, host: hostOf(baseURL) };
  let connecting: Promise<{ sdk: SdkErrorClasses; client: C }> | undefined;

  function connect(key: string) {
    if (connecting) return connecting;
    const attempt = spec.connect({ baseURL, key, timeoutMs: config.timeout_seconds * 1000, log });
    connecting = attempt;
    attempt.then(
      () => log.debug(`${spec.kind} client created`, { baseURL: target.host }),
      () => {
        if (connecting === attempt) connecting = undefined; // an SDK that failed to load is retried
      },
    );
    return attempt;
  }

  function stream(
    request: ModelRequest,
    signal: AbortSignal,
    options: StreamOptions = {},
  ): AsyncIterable<ModelStreamEvent> {
    let key: string | undefined;
    let sdk: SdkErrorClasses | undefined;
    return guardedStream(signal, {
      id,
      clock,
      timeoutSeconds: config.timeout_seconds,
      idleTimeoutSeconds: config.idle_timeout_seconds,
      log: options.log?.with({ provider: id }) ?? log,
      classify: (err, state) => {
        const sent = key === NO_KEY ? undefined : key;
        return classifyFailure(err, state, {
          ...target,
          key: sent,
          keyEnv: config.api_key_env,
          timeoutSeconds: config.timeout_seconds,
          idleTimeoutSeconds: config.idle_timeout_seconds,
          sdk,
          upstream: spec.upstream,
          midStream: (e, cause) => spec.midStream(e, cause, { ...target, key: sent }),
        });
      },
    }, async function* (guard) {
      key = readApiKey(id, config.api_key_env, deps.env);
      const connected = await connect(key);
      sdk = connected.sdk;
      yield* spec.call(connected.client, request, guard, target);
    });
  }

  return { id, kind: spec.kind, stream };
}

/** The key from `keyEnv`, {@linkcode NO_KEY} when none is configured; fails with auth when unset. */
function readApiKey(
  id: string,
  keyEnv: string | undefined,
  env: (name: string) => string | undefined,
): string {
  if (!keyEnv) return NO_KEY;
  const key = env(keyEnv)?.trim();
  if (!key) {
    throw new ProviderError(
      "auth",
      `provider ${id}: env ${keyEnv} is not set: export it before starting the gateway`,
    );
  }
  return key;
}

/**
 * The SDK's own log lines in our logger, message only (its extra arguments may hold headers).
 * Its errors go to debug: every failure reaches the caller as a ProviderError anyway.
 */
export function sdkLogger(log: Logger, sdk: string) {
  return {
    error: (msg: string) => log.debug(`${sdk} sdk: ${msg}`),
    warn: (msg: string) => log.warn(`${sdk} sdk: ${msg}`),
    info: (msg: string) => log.debug(`${sdk} sdk: ${msg}`),
    debug: (msg: string) => log.debug(`${sdk} sdk: ${msg}`),
  };
}
