/** The error codes of the control plane and the one error class that carries them. */

/** Every code a client can receive in `res.error.code` or `chat.error.code`. */
export type ErrorCode =
  | "INVALID_REQUEST"
  | "UNKNOWN_METHOD"
  | "AUTH_REQUIRED"
  | "AUTH_FAILED"
  | "LOCKED_OUT"
  | "PAIRING_REQUIRED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "PAYLOAD_TOO_LARGE"
  | "PROTOCOL_MISMATCH"
  | "UNAVAILABLE"
  | "QUEUE_DROPPED"
  | "TIMEOUT"
  | "ABORTED"
  | "NO_MODEL"
  | "PROVIDER_ERROR"
  | "INTERNAL";

/** An error meant to be shown to a user or client: a code, a message that says the fix, optional details. */
export class GatehouseError extends Error {
  override name = "GatehouseError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: {
      details?: Record<string, unknown>;
      retryable?: boolean;
      retryAfterMs?: number;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
  }
}

/** A config problem found at load time; `problems` lists each one as `path: message`. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[], readonly file?: string) {
    super(
      `config${file ? ` (${file})` : ""}: ` +
        (problems.length === 1 ? problems[0] : `\n  - ${problems.join("\n  - ")}`),
    );
  }
}

/** The wire shape of an error. */
export interface ErrorShape {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
  retryable?: boolean;
  retryAfterMs?: number;
}

/** Turns anything thrown into a wire error without leaking stack traces. */
export function toErrorShape(err: unknown): ErrorShape {
  if (err instanceof GatehouseError) {
    const shape: ErrorShape = { code: err.code, message: err.message };
    if (err.options.details) shape.details = err.options.details;
    if (err.options.retryable !== undefined) shape.retryable = err.options.retryable;
    if (err.options.retryAfterMs !== undefined) shape.retryAfterMs = err.options.retryAfterMs;
    return shape;
  }
  return { code: "INTERNAL", message: "internal error; the gateway log has the details" };
}
