/**
 * Chat commands every surface shares: a message that is a command is answered by the gateway at
 * once, on no lane (so `/stop` is not stuck behind the turn it stops), without a model call and
 * without entering the transcript.
 */
import { type EventSink, MAIN_SESSION_KEY, type SessionStore } from "../kernel/mod.ts";
import type { ModelCatalog } from "../providers/catalog.ts";
import { modelCommand } from "./model_command.ts";

/**
 * Answers `text` when it is a command for `sessionKey`; undefined when it is an ordinary message.
 * `source` is who sent it (`ws:<conn>@<ip>`, `telegram:<user>`).
 */
export type CommandHandler = (
  sessionKey: string,
  text: string,
  source: string,
) => Promise<string | undefined>;

/** A chat command as surfaces list it (Telegram registers these with setMyCommands). */
export interface CommandInfo {
  command: string;
  description: string;
}

/** The commands, in the order `/help` lists them. */
export const CHAT_COMMANDS: readonly CommandInfo[] = [
  { command: "new", description: "start a fresh conversation (same as /reset)" },
  { command: "reset", description: "clear this conversation's history" },
  { command: "stop", description: "stop the answer in progress and drop waiting messages" },
  { command: "status", description: "this conversation: model, tokens, queue" },
  { command: "model", description: "show the models, or pick one: /model provider/model" },
  { command: "help", description: "what the commands do" },
];

/** What the session commands act on (the chat service, bound late by the composition root). */
export interface SessionControl {
  reset(sessionKey: string): Promise<boolean>;
  abort(sessionKey: string): { aborted: boolean; dropped: number };
  running(sessionKey: string): boolean;
  queued(sessionKey: string): number;
  /** Whether a channel's user owns that channel (operators' WebSocket clients need not). */
  isOwner(channel: string, sender: string): boolean;
}

/** The commands over the store, the model catalog and the chat service. */
export function createCommands(
  deps: {
    store: SessionStore;
    catalog: ModelCatalog;
    events: EventSink;
    control: () => SessionControl;
  },
): CommandHandler {
  const model = modelCommand(deps);
  return async (sessionKey, text, source) => {
    const match = /^\/([a-z_]+)(?:@[A-Za-z0-9_]+)?(?:\s+([\s\S]*))?$/.exec(text.trim());
    if (!match) return undefined;
    const [, name, rest = ""] = match;
    switch (name) {
      case "model":
      case "models":
        return await model(sessionKey, rest);
      case "new":
      case "reset":
        return noArgs(name, rest) ?? notShared(deps.control(), sessionKey, source) ??
          await reset(deps.control(), sessionKey);
      case "stop":
        return noArgs(name, rest) ?? stop(deps.control(), sessionKey);
      case "status":
        return noArgs(name, rest) ?? await status(deps, sessionKey);
      case "help":
      case "start":
        return help();
      default:
        return undefined; // not ours: an ordinary message that starts with a slash
    }
  };
}

/**
 * The main session is shared by the operator and, with `session.dm_scope = "main"`, every paired
 * chat user: only the operator and the channel's owner may clear it.
 */
function notShared(
  control: SessionControl,
  sessionKey: string,
  source: string,
): string | undefined {
  if (sessionKey !== MAIN_SESSION_KEY || source.startsWith("ws:")) return undefined;
  const [channel, sender = ""] = source.split(":", 2);
  if (control.isOwner(channel, sender)) return undefined;
  return "This conversation is shared with the assistant's owner, so only they can clear it. " +
    'Ask them, or ask them to set session.dm_scope = "per-peer" so you get your own.';
}

function noArgs(name: string, rest: string): string | undefined {
  return rest.trim() ? `/${name} takes no arguments; send just "/${name}".` : undefined;
}

async function reset(control: SessionControl, sessionKey: string): Promise<string> {
  const existed = await control.reset(sessionKey);
  return existed
    ? "Started over: this conversation's history is cleared (the model and label stay)."
    : "Nothing to clear: this conversation has no history yet.";
}

function stop(control: SessionControl, sessionKey: string): string {
  const { aborted, dropped } = control.abort(sessionKey);
  if (!aborted && dropped === 0) return "Nothing to stop: no answer is in progress.";
  const parts = [aborted ? "Stopped the answer in progress" : "No answer was in progress"];
  if (dropped) parts.push(`dropped ${dropped} waiting message${dropped === 1 ? "" : "s"}`);
  return parts.join("; ") + ".";
}

async function status(
  deps: { store: SessionStore; catalog: ModelCatalog; control: () => SessionControl },
  sessionKey: string,
): Promise<string> {
  const meta = await deps.store.getSession(sessionKey);
  const control = deps.control();
  const chain = deps.catalog.chain();
  const lines = [`Session: ${sessionKey}${meta?.label ? ` (${meta.label})` : ""}`];
  lines.push(
    meta?.model
      ? `Model: ${meta.model} (picked for this session; no fallback)`
      : `Models: ${chain.length ? chain.join(" → ") : "none configured"}`,
  );
  if (meta) {
    lines.push(
      `Tokens so far: ${meta.inputTokens.toLocaleString("en")} in, ` +
        `${meta.outputTokens.toLocaleString("en")} out`,
    );
  } else lines.push("No messages yet.");
  const queued = control.queued(sessionKey);
  lines.push(
    `Now: ${control.running(sessionKey) ? "answering" : "idle"}` +
      (queued ? `, ${queued} message${queued === 1 ? "" : "s"} waiting` : ""),
  );
  return lines.join("\n");
}

function help(): string {
  return [
    "Write normally to talk to the assistant. Commands:",
    ...CHAT_COMMANDS.map((c) => `/${c.command}: ${c.description}`),
  ].join("\n");
}
