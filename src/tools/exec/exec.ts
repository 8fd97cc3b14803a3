/**
 * `exec`: runs one allowlisted program with an argv (no shell) in a workspace folder. `prepare`
 * resolves the call to a real program path, argv and real cwd, which is what an operator approves
 * and what `run` executes; `run` never re-resolves from the arguments when a prepared call is
 * given.
 *
 * Resolution reads nothing outside the workspace, so the tool works with only
 * `--allow-run=<allowlisted real paths>` and read access to the workspace: a bare argv[0] is
 * looked up in the allowlist, which `resolvePrograms` resolved on the gateway's PATH at start-up
 * (a bare name never means a file in the cwd); a path is made real (and must then be allowlisted).
 */
import { basename, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import type { Clock, PreparedCall, Tool, ToolContext, ToolOutput } from "../../kernel/mod.ts";
import { OutsideWorkspace, type Workspace } from "../workspace.ts";
import { isShell, SHELLS } from "./programs.ts";
import { type ProgramResult, runProgram } from "./run_program.ts";

const MAX_ARG_BYTES = 8 * 1024;
const MAX_SUMMARY_CHARS = 500;
const encoder = new TextEncoder();

const arg = z.string().max(MAX_ARG_BYTES)
  .refine((s) => encoder.encode(s).length <= MAX_ARG_BYTES, "must be at most 8 KB")
  .refine((s) => !s.includes("\0"), "must not contain a NUL character");

const params = z.object({
  argv: z.array(arg).min(1).max(200).describe(
    'The program and its arguments, one item each, e.g. ["git", "status", "--short"]. No shell: pipes, redirects, globs and $VARS are passed literally.',
  ),
  cwd: z.string().min(1).max(4096).optional().describe(
    "Folder to run in, relative to the workspace; omit for the workspace root",
  ),
  timeout_seconds: z.number().int().min(1).max(3600).optional().describe(
    "Kill the program after this many seconds (capped by the configured limit)",
  ),
}).strict();

/** What `exec` is built from; the composition root fills it from `tools.exec`. */
export interface ExecDeps {
  workspace: Workspace;
  /** The allowlist: real path → name as configured (`resolvePrograms` with `pathEnv: env.PATH`). */
  programs: ReadonlyMap<string, string>;
  /** The programs' whole environment: `tools.exec.env` names with values read at start-up. */
  env: Readonly<Record<string, string>>;
  /** Allow shells as argv[0] (`tools.exec.shell`). */
  shell: boolean;
  /** Default and longest run time (`tools.exec.timeout_seconds`). */
  timeoutMs: number;
  /** Output kept per call (`tools.exec.max_output_chars`). */
  maxOutputChars: number;
  /** @default systemClock */
  clock?: Clock;
  /** Time between SIGTERM and SIGKILL when a program is killed. @default 2000 */
  killGraceMs?: number;
}

/** Creates the `exec` tool. */
export function execTool(deps: ExecDeps): Tool<typeof params> {
  const { workspace, programs } = deps;
  const byName = namesIndex(programs);
  const allowed = [...new Set(programs.values())];

  const notAllowed = (program: string) =>
    new Error(
      allowed.length
        ? `"${program}" is not an allowed program; exec may run: ${
          allowed.join(", ")
        } (an operator sets this list with tools.exec.programs)`
        : `exec may run no program: tools.exec.programs is empty`,
    );
  const shellRefused = (program: string) =>
    new Error(
      `"${program}" is a shell, and shells are refused because one runs any command line ("sh -c …"): run the program directly with its arguments in argv (an operator can allow shells with tools.exec.shell = true)`,
    );

  /** argv[0] → the allowlisted real path it names; `cwd` is the real folder relative paths start from. */
  async function resolveProgram(program: string, cwd: string): Promise<string> {
    if (program === "") {
      throw new Error('argv[0] is empty: give the program, e.g. ["git", "status"]');
    }
    if (!deps.shell && SHELLS.has(basename(program))) throw shellRefused(program);
    let real: string;
    if (!program.includes("/")) {
      real = byName.get(program) ?? "";
      if (!real) throw notAllowed(program);
    } else {
      const abs = isAbsolute(program) ? resolve(program) : resolve(cwd, program);
      if (programs.has(abs)) {
        real = abs;
      } else if (workspace.contains(abs)) {
        try {
          real = await workspace.existing(abs);
        } catch (err) {
          if (err instanceof OutsideWorkspace) throw notAllowed(program);
          if (err instanceof Deno.errors.NotFound) {
            throw new Error(`"${program}" does not exist in the workspace`);
          }
          throw err;
        }
      } else if (!isAbsolute(program)) {
        throw new Error(
          `"${program}" leaves the workspace; a program is named by itself (e.g. "git") or by an absolute path`,
        );
      } else {
        // Outside the workspace only allowlisted paths are readable; anything else is refused.
        real = await Deno.realPath(abs).catch(() => "");
      }
      if (!programs.has(real)) throw notAllowed(program);
    }
    if (!deps.shell && isShell(real, programs.get(real) ?? program)) throw shellRefused(program);
    return real;
  }

  async function resolveCwd(cwd: string): Promise<string> {
    let real: string;
    try {
      real = await workspace.existing(cwd);
    } catch (err) {
      if (err instanceof OutsideWorkspace) throw new Error(`cwd ${err.message}`);
      if (err instanceof Deno.errors.NotFound) {
        throw new Error(
          `cwd "${cwd}" does not exist in the workspace; create it or omit cwd to run in the workspace root`,
        );
      }
      throw err;
    }
    if (!(await Deno.stat(real)).isDirectory) {
      throw new Error(`cwd "${cwd}" is a file, not a folder`);
    }
    return real;
  }

  async function prepare(args: z.output<typeof params>): Promise<PreparedCall> {
    const cwd = await resolveCwd(args.cwd ?? ".");
    const program = await resolveProgram(args.argv[0], cwd);
    return {
      summary: summarize(
        programs.get(program) ?? program,
        args.argv.slice(1),
        workspace.display(cwd),
      ),
      program,
      argv: [...args.argv],
      cwd,
    };
  }

  /** A prepared call, checked again against the allowlist (it was bound elsewhere). */
  function approved(p: PreparedCall): { program: string; argv: string[]; cwd: string } {
    const { program, argv, cwd } = p;
    if (!program || !argv?.length || !cwd) {
      throw new Error("the prepared call lacks a program, argv or cwd; this is a gateway bug");
    }
    if (!programs.has(program)) throw notAllowed(program);
    if (!deps.shell && isShell(program, programs.get(program)!)) throw shellRefused(program);
    if (!workspace.contains(cwd)) throw new Error(`cwd ${cwd} is outside the workspace`);
    return { program, argv, cwd };
  }

  return {
    name: "exec",
    description:
      `Runs one program with arguments (argv, no shell) in the workspace and returns its exit code and output. Allowed programs: ${
        allowed.join(", ") || "none"
      }.`,
    params,
    group: "runtime",
    prepare: (args) => prepare(args),
    async run(args, ctx: ToolContext): Promise<ToolOutput> {
      const call = approved(ctx.prepared ?? await prepare(args));
      const limitMs = Math.min((args.timeout_seconds ?? Infinity) * 1000, deps.timeoutMs);
      if (ctx.signal.aborted) throw new Error("stopped before it started: the turn was aborted");
      const result = await runProgram({
        program: call.program,
        args: call.argv.slice(1),
        cwd: call.cwd,
        env: deps.env,
        timeoutMs: limitMs,
        maxOutputChars: deps.maxOutputChars,
        signal: ctx.signal,
        clock: deps.clock,
        killGraceMs: deps.killGraceMs,
      });
      if (result.ended === "aborted") throw new Error("stopped: the turn was aborted");
      if (result.ended === "timeout") {
        const who = limitMs < deps.timeoutMs ? "timeout_seconds" : "tools.exec.timeout_seconds";
        const rest = result.groupKill
          ? ""
          : "; programs it started in the background may still be running";
        return {
          content: `killed after ${limitMs / 1000} s (the limit set by ${who})${rest}\n${
            report(result)
          }`,
          isError: true,
        };
      }
      return { content: `${exitLine(result.status)}\n${report(result)}` };
    },
  };
}

/** Bare names that mean an allowlisted program: as configured, then by file name. */
function namesIndex(programs: ReadonlyMap<string, string>): Map<string, string> {
  const index = new Map<string, string>();
  for (const [real, name] of programs) if (!name.includes("/")) index.set(name, real);
  for (const [real, name] of programs) {
    for (const n of [basename(name), basename(real)]) if (!index.has(n)) index.set(n, real);
  }
  return index;
}

function exitLine(status: Deno.CommandStatus): string {
  return status.signal
    ? `exit code ${status.code} (killed by ${status.signal})`
    : `exit code ${status.code}`;
}

/** stdout and stderr in sections, each with its cut marker. */
function report(result: ProgramResult): string {
  const sections: string[] = [];
  for (const name of ["stdout", "stderr"] as const) {
    const { text, cut } = result[name];
    if (!text && !cut) continue;
    let body = text && !text.endsWith("\n") ? `${text}\n` : text;
    if (cut) body += `[… ${cut} more characters cut]\n`;
    sections.push(`--- ${name} ---\n${body}`);
  }
  if (result.outputLeftOpen) {
    sections.push(
      "[the program exited but a process it started kept its output open; reading stopped]\n",
    );
  }
  return sections.length ? sections.join("").trimEnd() : "(no output)";
}

/** `git status  (in app/)`, arguments quoted where a reader could misread them. */
function summarize(name: string, args: string[], where: string): string {
  let line = [name, ...args].map(quote).join(" ");
  if (line.length > MAX_SUMMARY_CHARS) {
    line = `${line.slice(0, MAX_SUMMARY_CHARS)}… (${
      line.length - MAX_SUMMARY_CHARS
    } more characters)`;
  }
  return `${line}  (in ${where === "." ? "./" : `${where}/`})`;
}

function quote(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(arg)) return JSON.stringify(arg);
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}
