/**
 * The tool runner a turn uses: the registry's tools filtered by policy for the conversation's
 * origin, and every call gated: a tool the policy leaves out is answered with why; `ask` waits for
 * an operator's approval of the call as the gateway resolved it (`prepare`), never as the
 * arguments describe it.
 */
import type { PreparedCall, ToolCall, ToolContext, ToolResult, ToolSpec } from "../kernel/mod.ts";
import type { ApprovalBroker } from "./approvals.ts";
import { argsDigest } from "./args_digest.ts";
import type { Origin, ToolDecision, ToolPolicy } from "./policy.ts";
import type { ToolGate, ToolRegistry } from "./registry.ts";

/** Options of {@linkcode ToolRunner}. */
export interface ToolRunnerOptions {
  /** The tools, built on first use. */
  registry: () => Promise<ToolRegistry>;
  policy: ToolPolicy;
  approvals: ApprovalBroker;
  /** For messages: how long an approval waits. */
  approvalTimeoutSeconds: number;
}

/** Offers and runs tools under the policy. */
export class ToolRunner {
  #o: ToolRunnerOptions;

  constructor(options: ToolRunnerOptions) {
    this.#o = options;
  }

  /** Decides with `policy` from the next call on (config reload); calls already gated keep their verdict. */
  setPolicy(policy: ToolPolicy): void {
    this.#o = { ...this.#o, policy };
  }

  /** What `origin` may use, with the reasons (`tools.effective`). */
  effective(origin: Origin): ToolDecision[] {
    return this.#o.policy.all(origin);
  }

  /**
   * The tools offered to the model for `origin`; `only` narrows them further (a scheduled job's
   * own tool allowlist), never widens them.
   */
  async specs(origin: Origin, only?: ReadonlySet<string>): Promise<ToolSpec[]> {
    return (await this.#o.registry()).specs(new Set(this.#enabled(origin, only)));
  }

  /** Runs one call for `origin` (within `only`, when given); always resolves. */
  async run(
    call: ToolCall,
    ctx: Omit<ToolContext, "callId">,
    origin: Origin,
    only?: ReadonlySet<string>,
  ): Promise<ToolResult> {
    if (only && !only.has(call.name)) {
      return {
        callId: call.id,
        name: call.name,
        content: `${call.name} is not allowed in this run; it may use: ${
          this.#enabled(origin, only).join(", ") || "no tools"
        }. Do not call it again.`,
        isError: true,
      };
    }
    return (await this.#o.registry()).run(call, ctx, {
      gate: this.#gate(origin),
      available: this.#enabled(origin, only),
    });
  }

  #enabled(origin: Origin, only?: ReadonlySet<string>): string[] {
    return this.#o.policy.all(origin)
      .filter((d) => d.enabled && (!only || only.has(d.name)))
      .map((d) => d.name);
  }

  #gate(origin: Origin): ToolGate {
    return async (tool, args, ctx) => {
      const d = this.#o.policy.decide(tool.name, origin);
      if (!d?.enabled) {
        return {
          run: false,
          reason: `${tool.name} is not allowed in this conversation (${
            d?.reason ?? "not registered"
          }); do not call it again, and tell the user if it is needed`,
        };
      }
      const prepared = tool.prepare ? await tool.prepare(args as never, ctx) : undefined;
      if (d.mode === "allow") return { run: true, prepared };
      const shown = prepared ?? {
        summary: `${tool.name} ${JSON.stringify(args).slice(0, 300)}`,
        args: args as Record<string, unknown>,
      };
      // exec binds its resolved program, argv and cwd; any other tool binds its whole arguments
      // (write's content, message's text), which its shown `args` may leave out.
      const subject: PreparedCall = shown.program
        ? shown
        : { ...shown, digest: await argsDigest(args) };
      const { approvals } = this.#o;
      if (await approvals.remembered(tool.name, subject)) return { run: true, prepared };
      const outcome = await approvals.request(
        { sessionKey: ctx.sessionKey, runId: ctx.runId, tool: tool.name, prepared: subject },
        ctx.signal,
      );
      switch (outcome) {
        case "allow-once":
        case "allow-always":
          return { run: true, prepared };
        case "deny":
          return { run: false, reason: `an operator denied this call: ${subject.summary}` };
        case "timeout":
          return {
            run: false,
            reason: `no operator approved this call within ${this.#o.approvalTimeoutSeconds}s, ` +
              `so it was denied: ${subject.summary}`,
          };
        case "aborted":
          return { run: false, reason: "the turn was stopped while the call waited for approval" };
      }
    };
  }
}
