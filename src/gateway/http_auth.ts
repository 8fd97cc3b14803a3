/**
 * The gateway token on plain HTTP routes (`/metrics`): `Authorization: Bearer <token>`, compared
 * in constant time, failures counted by the same per-source limiter as WebSocket connects. Never
 * from the query string, which ends up in logs and browser history.
 */
import type { Logger } from "../kernel/mod.ts";
import type { AuthLimiter } from "./auth_limiter.ts";
import { secretsEqual } from "./token.ts";

/** The verdict on one request. */
export type HttpAuthDecision =
  | { allow: true }
  | { allow: false; status: 401 | 429; reason: string; retryAfterMs?: number };

/** What checking a request needs. */
export interface HttpAuthDeps {
  /** The current token; undefined when `gateway.auth.mode = "none"`. */
  token: () => Promise<string | undefined>;
  limiter: AuthLimiter;
  logger: Logger;
}

/** Builds the check for requests from `remote` (the peer's address). */
export function bearerAuth(
  deps: HttpAuthDeps,
): (req: Request, remote: string) => Promise<HttpAuthDecision> {
  return async (req, remote) => {
    const expected = await deps.token();
    if (expected === undefined) return { allow: true };
    const locked = deps.limiter.lockedFor(remote);
    if (locked > 0) {
      return {
        allow: false,
        status: 429,
        reason: `too many failed auth attempts from ${remote}: retry in ${
          Math.ceil(locked / 1000)
        } s`,
        retryAfterMs: locked,
      };
    }
    const header = req.headers.get("authorization") ?? "";
    const given = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (given !== undefined && await secretsEqual(given, expected)) {
      deps.limiter.succeed(remote);
      return { allow: true };
    }
    const lockout = deps.limiter.fail(remote);
    deps.logger.warn("http auth failed", { path: new URL(req.url).pathname, source: remote });
    if (lockout > 0) {
      return {
        allow: false,
        status: 429,
        reason: `wrong token; too many failures from ${remote}: retry in ${
          Math.ceil(lockout / 1000)
        } s`,
        retryAfterMs: lockout,
      };
    }
    return {
      allow: false,
      status: 401,
      reason: given === undefined
        ? "send the gateway token as `Authorization: Bearer <token>` (`gatehouse token` prints it)"
        : "wrong token: use the token in <home>/token on the gateway host (`gatehouse token` prints it)",
    };
  };
}
