/** The tool contract: what the model may call, with parameters checked before a tool runs. */
import type { z } from "zod";

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
  run(args: z.output<P>, ctx: ToolContext): Promise<string | ToolOutput>;
}
