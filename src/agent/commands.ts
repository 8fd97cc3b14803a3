/**
 * Chat commands every surface shares: a message that is a command is answered by the gateway at
 * once, without a model call and without entering the transcript. Today: `/model`.
 */
import type { EventSink, SessionStore } from "../kernel/mod.ts";
import type { ModelCatalog } from "../providers/catalog.ts";

/** Answers `text` when it is a command for `sessionKey`; undefined when it is an ordinary message. */
export type CommandHandler = (sessionKey: string, text: string) => Promise<string | undefined>;

const CLEAR = new Set(["default", "reset", "clear", "auto"]);

/** The commands, over the store and the model catalog. */
export function createCommands(
  deps: { store: SessionStore; catalog: ModelCatalog; events: EventSink },
): CommandHandler {
  return async (sessionKey, text) => {
    const match = /^\/models?(?:\s+(.*))?$/s.exec(text.trim());
    if (!match) return undefined;
    const args = (match[1] ?? "").trim().split(/\s+/).filter(Boolean);
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
