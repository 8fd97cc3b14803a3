/**
 * @module
 * The `exec` tool: allowlisted programs run with an argv in the workspace, a cleared environment,
 * a time limit and an output cap.
 */
export { type ExecDeps, execTool } from "./exec.ts";
export {
  execPathEnv,
  findOnPath,
  isShell,
  type ProgramProblem,
  type ResolvedPrograms,
  resolvePrograms,
  type ResolveProgramsOptions,
  shellRealPaths,
  SHELLS,
} from "./programs.ts";
