/**
 * The approval broker: a call in `ask` mode is announced to operators (`exec.approval.requested`,
 * only to clients holding `operator.approvals`) and waits for the first answer, the turn's abort,
 * or the timeout (a deny). `allow-always` stores the exact call (tool, resolved program, argv and
 * cwd, or the digest of the whole arguments) in KV; later identical calls run without asking. What
 * is approved is the prepared call the gateway resolved, never anything the tool's arguments claim.
 */
import {
  type ApprovalDecision,
  type ApprovalRequest,
  type ApprovalResolution,
  type Clock,
  type EventSink,
  GatehouseError,
  type Logger,
  type PreparedCall,
} from "../kernel/mod.ts";
import { approvalAllowKey } from "../store/keys.ts";
import { sha256Hex } from "./args_digest.ts";

/** How an approval ended. */
export type ApprovalOutcome = ApprovalResolution["decision"];

/** Options of {@linkcode ApprovalBroker}. */
export interface ApprovalBrokerOptions {
  kv: Deno.Kv;
  clock: Clock;
  events: EventSink;
  logger: Logger;
  timeoutMs: number;
}

interface Pending {
  request: ApprovalRequest;
  settle: (decision: ApprovalOutcome, by?: string) => void;
}

/** A remembered `allow-always`: the exact call that may run again without asking. */
interface AllowEntry {
  tool: string;
  program?: string;
  argv?: string[];
  cwd?: string;
  args?: Record<string, unknown>;
  digest?: string;
  addedAt: number;
  by?: string;
}

/** Waits for operators' answers; one per gateway. */
export class ApprovalBroker {
  #o: ApprovalBrokerOptions;
  #pending = new Map<string, Pending>();

  constructor(options: ApprovalBrokerOptions) {
    this.#o = options;
  }

  /** Requests waiting for an answer, oldest first. */
  pending(): ApprovalRequest[] {
    return [...this.#pending.values()].map((p) => ({ ...p.request }));
  }

  /** Whether an `allow-always` answer covers this exact call. */
  async remembered(tool: string, prepared: PreparedCall): Promise<boolean> {
    const entry = await this.#o.kv.get<AllowEntry>(await allowKey(tool, prepared));
    return entry.value !== null;
  }

  /**
   * Announces the call and waits. Resolves `allow-once`, `allow-always`, `deny`, `timeout` or
   * `aborted`; never throws.
   */
  request(
    call: { sessionKey: string; runId: string; tool: string; prepared: PreparedCall },
    signal: AbortSignal,
  ): Promise<ApprovalOutcome> {
    const { clock } = this.#o;
    const p = call.prepared;
    const request: ApprovalRequest = {
      id: crypto.randomUUID(),
      sessionKey: call.sessionKey,
      runId: call.runId,
      tool: call.tool,
      summary: p.summary,
      ...(p.program ? { program: p.program } : {}),
      ...(p.argv ? { argv: [...p.argv] } : {}),
      ...(p.cwd ? { cwd: p.cwd } : {}),
      ...(p.args ? { args: p.args } : {}),
      ...(p.digest ? { digest: p.digest } : {}),
      expiresAt: clock.now() + this.#o.timeoutMs,
    };
    return new Promise((resolve) => {
      if (signal.aborted) return resolve("aborted");
      const settle = (decision: ApprovalOutcome, by?: string) => {
        if (!this.#pending.delete(request.id)) return;
        clock.clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        const resolution: ApprovalResolution = {
          id: request.id,
          sessionKey: request.sessionKey,
          tool: request.tool,
          decision,
          ...(by ? { by } : {}),
        };
        this.#o.events.publish("exec.approval.resolved", resolution);
        this.#o.logger.info("approval resolved", { ...resolution, runId: request.runId });
        resolve(decision);
      };
      const onAbort = () => settle("aborted");
      const timer = clock.setTimeout(() => settle("timeout"), this.#o.timeoutMs);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(request.id, { request, settle });
      this.#o.events.publish("exec.approval.requested", request);
      this.#o.logger.info("approval requested", {
        id: request.id,
        runId: request.runId,
        sessionKey: request.sessionKey,
        tool: request.tool,
        summary: request.summary,
      });
    });
  }

  /**
   * Answers a pending request; the first answer wins. An unknown, expired or already answered id
   * is a NOT_FOUND error. The request is settled before anything is awaited, so a second answer,
   * the timeout or an abort that arrives while an `allow-always` entry is being written finds
   * nothing pending. The entry is written after: if that fails, the call still runs once and the
   * answer is an error saying it was not remembered.
   */
  async resolve(id: string, decision: ApprovalDecision, by: string): Promise<ApprovalRequest> {
    const pending = this.#pending.get(id);
    if (!pending) {
      throw new GatehouseError(
        "NOT_FOUND",
        `no pending approval ${JSON.stringify(id)}: it was already answered, expired or never ` +
          "existed (exec.approval.list shows the pending ones)",
      );
    }
    const r = pending.request;
    pending.settle(decision, by);
    if (decision === "allow-always") {
      const entry: AllowEntry = {
        tool: r.tool,
        ...(r.program ? { program: r.program } : {}),
        ...(r.argv ? { argv: r.argv } : {}),
        ...(r.cwd ? { cwd: r.cwd } : {}),
        ...(r.args ? { args: r.args } : {}),
        ...(r.digest ? { digest: r.digest } : {}),
        addedAt: this.#o.clock.now(),
        by,
      };
      try {
        await this.#o.kv.set(await allowKey(r.tool, r), entry);
      } catch (err) {
        this.#o.logger.error("allow-always entry not stored", { id, error: String(err) });
        throw new GatehouseError(
          "UNAVAILABLE",
          `approval ${JSON.stringify(id)} was allowed once, but could not be remembered for ` +
            `later calls (${(err as Error).message}): the next identical call will ask again`,
          { cause: err },
        );
      }
    }
    return { ...r };
  }
}

/**
 * The KV key of a remembered call: the tool and a SHA-256 of its real program path, argv, cwd,
 * shown arguments and the digest of its whole arguments, exactly. Nothing is a pattern: `git
 * status` being allowed says nothing about `git push`, nor about `git status` in another folder,
 * and a write allowed for one content says nothing about another content.
 */
async function allowKey(
  tool: string,
  p: {
    program?: string;
    argv?: string[];
    cwd?: string;
    args?: Record<string, unknown>;
    digest?: string;
  },
): Promise<Deno.KvKey> {
  const exact = [p.program ?? null, p.argv ?? null, p.cwd ?? null, p.args ?? null];
  // Without a digest (exec binds its resolved program, argv and cwd) the key is as it always was.
  if (p.digest) exact.push(p.digest);
  return approvalAllowKey(tool, await sha256Hex(JSON.stringify(exact)));
}
