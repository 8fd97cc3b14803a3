/**
 * What the built-in tools need besides Deno's grants: a workspace that can be created and resolved
 * (the file tools and exec) and allowlisted programs that resolve (exec). Checked synchronously
 * when the tools are set up, so a tool that would fail on every call is off before the gateway
 * serves and decides which permission classes to revoke; `gatehouse doctor` runs the same check.
 */
import { execPathEnv, type ProgramProblem, resolvePrograms } from "./exec/programs.ts";
import { Workspace } from "./workspace.ts";

/** The tools confined to the workspace. */
export const WORKSPACE_TOOLS: readonly string[] = ["read", "write", "edit", "list", "exec"];

/** What {@linkcode checkPreconditions} looks at. */
export interface PreconditionInput {
  /** `tools.workspace`, absolute. */
  workspacePath: string;
  /** `tools.exec`. */
  exec: { programs: readonly string[]; env: readonly string[]; shell: boolean };
  /** The gateway's PATH (exec searches it when `tools.exec.env` passes PATH on). */
  pathEnv: string | undefined;
  /** Whether a tool may be on at all; only those are checked. */
  wanted: (tool: string) => boolean;
}

/** What the check found. */
export interface Preconditions {
  /** The opened workspace, when a tool that needs it is wanted and it opens. */
  workspace?: Workspace;
  /** exec's allowlist: real path → name as configured. */
  programs: Map<string, string>;
  /** Configured programs left out of the allowlist, and why. */
  problems: ProgramProblem[];
  /** Tools that cannot work, with the reason (shown in `tools.effective` and by `doctor`). */
  off: Map<string, string>;
}

/** Checks the workspace and exec's programs for the tools that are wanted. */
export function checkPreconditions(input: PreconditionInput): Preconditions {
  const out: Preconditions = { programs: new Map(), problems: [], off: new Map() };
  const needWorkspace = WORKSPACE_TOOLS.filter(input.wanted);
  if (needWorkspace.length === 0) return out;
  try {
    out.workspace = Workspace.openSync(input.workspacePath);
  } catch (err) {
    const reason = `the workspace ${input.workspacePath} cannot be created or resolved (${
      (err as Error).message
    }): fix tools.workspace or the folder's permissions`;
    for (const tool of needWorkspace) out.off.set(tool, `${tool} is off: ${reason}`);
    return out;
  }
  if (input.wanted("exec")) {
    const { programs, problems } = resolvePrograms(input.exec.programs, {
      pathEnv: execPathEnv(input.exec.env, input.pathEnv),
      shell: input.exec.shell,
    });
    out.programs = programs;
    out.problems = problems;
    if (programs.size === 0) {
      out.off.set(
        "exec",
        `exec is off: none of tools.exec.programs can be run (${
          problems.map((p) => p.reason).join("; ")
        })`,
      );
    }
  }
  return out;
}
