/** `session_status`: what the model may know about its own session (key, model, usage, age). */
import { z } from "zod";
import type { Clock, SessionStore, Tool } from "../../kernel/mod.ts";

const params = z.object({}).strict();

/** Creates the tool over the session store. */
export function sessionStatusTool(
  deps: { store: SessionStore; clock: Clock },
): Tool<typeof params> {
  return {
    name: "session_status",
    description:
      "Returns this conversation's session: its key, the model answering now, token usage so far and when it started.",
    params,
    group: "session",
    async run(_args, ctx) {
      const meta = await deps.store.getSession(ctx.sessionKey);
      const status = {
        sessionKey: ctx.sessionKey,
        model: ctx.model,
        modelPinned: meta?.model ?? null,
        label: meta?.label ?? null,
        inputTokens: meta?.inputTokens ?? 0,
        outputTokens: meta?.outputTokens ?? 0,
        createdAt: meta ? new Date(meta.createdAt).toISOString() : null,
        now: new Date(deps.clock.now()).toISOString(),
      };
      return JSON.stringify(status);
    },
  };
}
