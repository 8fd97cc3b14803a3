/** `/model`: shows the session's models, picks one for the session, or goes back to the chain. */
import type { EventSink, SessionStore } from "../kernel/mod.ts";
import type { ModelCatalog } from "../providers/catalog.ts";

const CLEAR = new Set(["default", "reset", "clear", "auto"]);

/** Answers `/model [arg]` for a session. */
export function modelCommand(
  deps: { store: SessionStore; catalog: ModelCatalog; events: EventSink },
): (sessionKey: string, rest: string) => Promise<string> {
  return async (sessionKey, rest) => {
    const args = rest.trim().split(/\s+/).filter(Boolean);
    if (args.length > 1) {
      return 'Usage: "/model" shows the models, "/model <provider>/<model>" picks one for this ' +
        'session, "/model default" goes back to the configured models.';
    }
    const arg = args[0];
    const chain = deps.catalog.chain();
    const chainText = chain.length ? chain.join(" → ") : "none configured";
    if (!arg) {
      const meta = await deps.store.getSession(sessionKey);
      const lines = meta?.model
        ? [`This session uses ${meta.model} (picked for it: no fallback).`]
        : [`This session uses the configured models: ${chainText}.`];
      for (const m of deps.catalog.list(meta?.model ? [meta.model] : [])) {
        const state = !m.available
          ? `unavailable: ${m.reason}`
          : m.cooldown
          ? `cooling down ${Math.ceil(m.cooldown.remainingMs / 1000)}s after ${m.cooldown.reason}`
          : "ready";
        lines.push(`- ${m.ref} (${m.role}): ${state}`);
      }
      lines.push('Send "/model <provider>/<model>" to pick one, "/model default" to go back.');
      return lines.join("\n");
    }
    if (CLEAR.has(arg)) {
      const existed = await deps.store.getSession(sessionKey);
      if (existed?.model) {
        await deps.store.patchSession(sessionKey, { model: null });
        deps.events.publish("sessions.changed", { sessionKey, reason: "patched" });
      }
      return `This session now uses the configured models: ${chainText}.`;
    }
    const problem = deps.catalog.problem(arg);
    if (problem) return `Cannot use that model: ${problem}.`;
    const existed = await deps.store.getSession(sessionKey);
    await deps.store.patchSession(sessionKey, { model: arg }, { create: true });
    deps.events.publish("sessions.changed", {
      sessionKey,
      reason: existed ? "patched" : "created",
    });
    return `This session now uses ${arg}. It is used strictly: if it fails, no fallback is ` +
      `tried. Send "/model default" to go back to ${chainText}.`;
  };
}
