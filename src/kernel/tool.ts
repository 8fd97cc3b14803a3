/** The tool contract: what the model may call, with parameters checked before a tool runs. */
import type { z } from "zod";
import type { ReplyTarget } from "./channel.ts";

/** Tool groups, for `tools.allow` / `tools.deny` (`group:fs` …) and profiles. */
export type ToolGroup = "fs" | "runtime" | "web" | "messaging" | "session";

/** What a running tool knows about the call. */
export interface ToolContext {
  sessionKey: string;
  runId: string;
  /** The call id the model gave. */
  callId: string;
  /** `<provider>/<model>` that made the call. */
  model: string;
  /** Aborted when the turn is stopped; long tools must honour it. */
  signal: AbortSignal;
  /** The chat this turn answers, when it came from a chat channel (reminders go back there). */
  reply?: ReplyTarget;
  /**
   * What `prepare` resolved and an approval (if one was asked) bound. When present, the tool must
   * act on exactly this (the resolved program, argv and cwd), never re-resolve from the arguments.
   */
  prepared?: PreparedCall;
}

/**
 * A call resolved before it runs: what an approval shows and binds. Built by the tool from its
 * checked arguments (never taken from them as they are), so nothing in the arguments can mark a
 * call approved.
 */
export interface PreparedCall {
  /** One line for people: `git status` in `~/workspace/app`. */
  summary: string;
  /** The program's real path, for `exec`. */
  program?: string;
  argv?: string[];
  /** The real working directory. */
  cwd?: string;
  /** Other arguments worth showing (non-exec tools). */
  args?: Record<string, unknown>;
  /**
   * SHA-256 of the whole checked arguments, which the gate adds for every call without a
   * `program`: an approval of a `write` covers that content, not any content for the same path.
   */
  digest?: string;
}

/** A tool's answer. A thrown error becomes an error result too, with its message. */
export interface ToolOutput {
  content: string;
  isError?: boolean;
}

/** A tool. `params` is a zod object schema; it is shown to the model as JSON Schema and checked on every call. */
export interface Tool<P extends z.ZodType = z.ZodType> {
  name: string;
  /** One or two sentences for the model: what it does and when to use it. */
  description: string;
  params: P;
  group: ToolGroup;
  /** Resolves a call into what it will do (for approvals); tools without side effects omit it. */
  prepare?(args: z.output<P>, ctx: ToolContext): Promise<PreparedCall>;
  run(args: z.output<P>, ctx: ToolContext): Promise<string | ToolOutput>;
}
