/** Approvals: a tool call in `ask` mode waits for an operator to allow or deny it. */

/** What an operator answers. `allow-always` also remembers the exact call for later. */
export type ApprovalDecision = "allow-once" | "allow-always" | "deny";

/** A call waiting for an operator (the `exec.approval.requested` event payload). */
export interface ApprovalRequest {
  id: string;
  sessionKey: string;
  runId: string;
  tool: string;
  /** One line for people. */
  summary: string;
  /** The real path of the program (exec). */
  program?: string;
  argv?: string[];
  cwd?: string;
  /** Other arguments worth showing (non-exec tools). */
  args?: Record<string, unknown>;
  /** SHA-256 of the call's whole arguments (non-exec tools): the content the answer covers. */
  digest?: string;
  /** Epoch ms after which no answer counts as a deny. */
  expiresAt: number;
}

/** How a request ended (the `exec.approval.resolved` event payload). */
export interface ApprovalResolution {
  id: string;
  sessionKey: string;
  tool: string;
  decision: ApprovalDecision | "timeout" | "aborted";
  /** Who answered (`ws:<connId>`, `cli`), absent for timeouts and aborts. */
  by?: string;
}
