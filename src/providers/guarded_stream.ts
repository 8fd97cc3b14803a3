/**
 * The frame around one streamed model call: the caller's abort, the start and idle deadlines,
 * failure classification and cleanup. Providers supply only the SDK call and its translation.
 */
import type { Clock, Logger, ModelStreamEvent, ProviderError } from "../kernel/mod.ts";
import { abortedError, type CallState } from "./errors.ts";
import { IdleWatchdog } from "./idle_watchdog.ts";

/** Options of {@linkcode guardedStream}. */
export interface GuardOptions {
  id: string;
  clock: Clock;
  /** Seconds the response may take to start. */
  timeoutSeconds: number;
  /** Seconds the stream may stay silent once started. */
  idleTimeoutSeconds: number;
  log: Logger;
  /** Turns whatever the call threw into a ProviderError, given how the call stood. */
  classify: (err: unknown, state: CallState) => ProviderError;
}

/** What the provider's call gets from the frame. */
export interface GuardedCall {
  /** Pass to the SDK: aborts on the caller's abort, a passed deadline, or an early stop. */
  signal: AbortSignal;
  /** Call on every stream event: the first ends the start deadline, each resets the idle one. */
  activity(): void;
  /**
   * Throws the ProviderError for an abort or a passed deadline. Call it when a stream ends: the
   * SDKs end their iteration quietly when aborted, which would otherwise look like a cut stream.
   */
  throwIfStopped(): void;
}

/**
 * Runs `call` inside the frame and re-yields its events. Every failure leaves as a classified
 * ProviderError; the request is aborted whenever the consumer stops reading early.
 */
export async function* guardedStream(
  signal: AbortSignal,
  options: GuardOptions,
  call: (guard: GuardedCall) => AsyncIterable<ModelStreamEvent>,
): AsyncGenerator<ModelStreamEvent> {
  if (signal.aborted) throw abortedError(options.id);
  // One controller for the caller's abort, our deadlines and an early return by the consumer.
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  const watchdog = new IdleWatchdog({
    clock: options.clock,
    startMs: options.timeoutSeconds * 1000,
    idleMs: options.idleTimeoutSeconds * 1000,
    onTimeout: () => controller.abort(),
  });
  const state = (): CallState => ({ aborted: signal.aborted, timedOut: watchdog.fired });
  const guard: GuardedCall = {
    signal: controller.signal,
    activity: () => watchdog.activity(),
    throwIfStopped() {
      const now = state();
      if (now.aborted || now.timedOut) throw options.classify(undefined, now);
    },
  };
  try {
    yield* call(guard);
  } catch (err) {
    const failure = options.classify(err, state());
    options.log.debug("model request failed", {
      kind: failure.kind,
      status: failure.options.status,
    });
    throw failure;
  } finally {
    watchdog.stop();
    signal.removeEventListener("abort", onAbort);
    controller.abort(); // releases the response body if the consumer stopped early
  }
}
