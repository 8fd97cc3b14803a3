/**
 * The tool registry: the tools a turn may offer, their JSON Schemas for the providers, and the one
 * place a call runs. A call never throws: unknown tools, arguments that are not JSON or do not fit
 * the schema, and tools that fail all become error results the model can read and correct.
 */
import { z } from "zod";
import type {
  PreparedCall,
  Tool,
  ToolCall,
  ToolContext,
  ToolResult,
  ToolSpec,
} from "../kernel/mod.ts";

/**
 * Decides, after a call's arguments are checked and before the tool runs, whether it may run:
 * `{run: true, prepared}` lets it (with what an approval bound), `{run: false, reason}` answers
 * the model with the reason instead.
 */
export type ToolGate = (
  tool: Tool,
  args: unknown,
  ctx: ToolContext,
) => Promise<{ run: true; prepared?: PreparedCall } | { run: false; reason: string }>;

/** Longest tool output fed back to the model; the rest is cut with a marker. */
export const MAX_RESULT_CHARS = 32_000;

/** The registered tools, by name. */
export class ToolRegistry {
  #tools = new Map<string, Tool>();
  #specs: ToolSpec[] | undefined;

  constructor(tools: Tool[] = []) {
    for (const tool of tools) this.register(tool);
  }

  /** Adds a tool; names are unique and must fit the providers' rules (`^[a-zA-Z0-9_-]{1,64}$`). */
  register(tool: Tool): void {
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(tool.name)) {
      throw new Error(`tool name "${tool.name}" must match ^[a-zA-Z0-9_-]{1,64}$`);
    }
    if (this.#tools.has(tool.name)) throw new Error(`tool "${tool.name}" is registered twice`);
    this.#tools.set(tool.name, tool);
    this.#specs = undefined;
  }

  /** Tool names in registration order. */
  names(): string[] {
    return [...this.#tools.keys()];
  }

  /** A registered tool. */
  get(name: string): Tool | undefined {
    return this.#tools.get(name);
  }

  /** The tools as the model sees them (all, or those named), in registration order; computed once. */
  specs(names?: ReadonlySet<string>): ToolSpec[] {
    this.#specs ??= [...this.#tools.values()].map((t) => ({
      name: t.name,
      description: t.description,
      parameters: jsonSchema(t.params),
    }));
    return names ? this.#specs.filter((s) => names.has(s.name)) : this.#specs;
  }

  /**
   * Runs one call; always resolves, failures as `isError` results. `gate` may stop it after its
   * arguments are checked; `available` are the names an unknown-tool answer lists.
   */
  async run(
    call: ToolCall,
    ctx: Omit<ToolContext, "callId">,
    options: { gate?: ToolGate; available?: string[] } = {},
  ): Promise<ToolResult> {
    const result = (content: string, isError: boolean): ToolResult => ({
      callId: call.id,
      name: call.name,
      content: cap(content),
      isError,
    });
    const tool = this.#tools.get(call.name);
    if (!tool) {
      return result(
        `unknown tool "${call.name}"; the tools available are: ${
          (options.available ?? this.names()).join(", ") || "none"
        }`,
        true,
      );
    }
    let raw: unknown;
    try {
      raw = call.arguments.trim() === "" ? {} : JSON.parse(call.arguments);
    } catch {
      return result(`the arguments are not valid JSON: send one JSON object`, true);
    }
    const parsed = tool.params.safeParse(raw);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) =>
        `${i.path.length ? i.path.join(".") : "arguments"}: ${i.message}`
      );
      return result(`invalid arguments for ${call.name}: ${problems.join("; ")}`, true);
    }
    try {
      const context: ToolContext = { ...ctx, callId: call.id };
      if (options.gate) {
        const verdict = await options.gate(tool, parsed.data, context);
        if (!verdict.run) return result(verdict.reason, true);
        if (verdict.prepared) context.prepared = verdict.prepared;
      }
      const out = await tool.run(parsed.data, context);
      return typeof out === "string"
        ? result(out, false)
        : result(out.content, out.isError ?? false);
    } catch (err) {
      if (ctx.signal.aborted) return result("the tool was stopped: the turn was aborted", true);
      const message = err instanceof Error ? err.message : String(err);
      return result(`${call.name} failed: ${message}`, true);
    }
  }
}

/** A zod schema as compact JSON Schema for the providers (no `$schema`, no safe-integer bounds). */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io: "input", target: "draft-7", unrepresentable: "any" });
  delete (out as Record<string, unknown>).$schema;
  return JSON.parse(
    JSON.stringify(out),
    (key, value) =>
      (key === "maximum" && value === Number.MAX_SAFE_INTEGER) ||
        (key === "minimum" && value === Number.MIN_SAFE_INTEGER)
        ? undefined
        : value,
  );
}

function cap(text: string): string {
  if (text.length <= MAX_RESULT_CHARS) return text;
  const cut = text.length - MAX_RESULT_CHARS;
  return `${text.slice(0, MAX_RESULT_CHARS)}\n[… ${cut} more characters cut]`;
}
