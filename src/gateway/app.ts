/**
 * The Hono app: the browser page, health and readiness, metrics, the WebSocket door, JSON errors
 * for everything else.
 */
import { Hono } from "hono";
import { pageResponse, WEB_ASSETS } from "../channels/webchat/mod.ts";
import type { Logger } from "../kernel/mod.ts";
import type { HttpAuthDecision } from "./http_auth.ts";
import { METRICS_CONTENT_TYPE } from "./metrics.ts";

/** What the HTTP routes need. */
export interface AppDeps {
  isReady(): boolean;
  upgrade(req: Request, remote: string): Response;
  /** Telegram's webhook route, in webhook mode (its secret header is its auth, not the token). */
  telegramWebhook?: { path: string; handler(req: Request): Promise<Response> };
  /** `POST /hooks/agent` and `/hooks/wake`, when `[hooks]` is on (the hook token is their auth). */
  hooks?: { handler(req: Request, remote: string): Promise<Response> };
  /** `GET /metrics`: the Prometheus text, behind the gateway token. */
  metrics?: {
    render(): string;
    authorize(req: Request, remote: string): Promise<HttpAuthDecision>;
  };
  logger: Logger;
}

/** Builds the HTTP app; `c.env` is Deno's serve-handler info (the remote address). */
export function createApp(deps: AppDeps): Hono<{ Bindings: Deno.ServeHandlerInfo<Deno.NetAddr> }> {
  const app = new Hono<{ Bindings: Deno.ServeHandlerInfo<Deno.NetAddr> }>();
  // The page holds no secret (its token comes in the URL fragment), so loading it needs none.
  for (const path of WEB_ASSETS.keys()) app.get(path, (c) => pageResponse(path, c.req.method)!);
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get(
    "/readyz",
    (c) => deps.isReady() ? c.json({ ready: true }) : c.json({ ready: false }, 503),
  );
  app.get("/ws", (c) => deps.upgrade(c.req.raw, c.env?.remoteAddr?.hostname ?? "unknown"));
  const metrics = deps.metrics;
  if (metrics) {
    app.get("/metrics", async (c) => {
      const verdict = await metrics.authorize(c.req.raw, c.env?.remoteAddr?.hostname ?? "unknown");
      if (!verdict.allow) {
        const headers: Record<string, string> = verdict.status === 401
          ? { "www-authenticate": 'Bearer realm="gatehouse"' }
          : { "retry-after": String(Math.ceil((verdict.retryAfterMs ?? 0) / 1000)) };
        return c.json({ error: verdict.reason }, verdict.status, headers);
      }
      return c.body(metrics.render(), 200, { "content-type": METRICS_CONTENT_TYPE });
    });
  }
  const hook = deps.telegramWebhook;
  if (hook) app.post(hook.path, (c) => hook.handler(c.req.raw));
  const hooks = deps.hooks;
  if (hooks) {
    app.post("/hooks/*", (c) => hooks.handler(c.req.raw, c.env?.remoteAddr?.hostname ?? "unknown"));
  }
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => {
    deps.logger.error("http handler failed", { path: c.req.path, error: String(err) });
    return c.json({ error: "internal error; the gateway log has the details" }, 500);
  });
  return app;
}
