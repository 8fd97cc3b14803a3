/**
 * The `exec` allowlist: `tools.exec.programs` resolved to real paths, both when the permissions are
 * computed (each becomes an `--allow-run=<real path>` grant, since Deno checks the path a program
 * is started by, and `exec` starts the real path) and when the tools are set up. Bare names are
 * looked up on PATH like a shell would; absolute paths are followed through symlinks
 * (`/usr/bin/python3` → `/usr/bin/python3.11`). Shells are left out unless `tools.exec.shell` is
 * on, since `sh -c` runs anything. Resolution is synchronous: a few `stat` calls, done where the
 * permission computation (itself synchronous) needs them.
 *
 * The allowlist fences program files, not what they do: allowlisting an interpreter or a launcher
 * (`python`, `node`, `env`, `xargs`, `find -exec`, `git` with its aliases and hooks…) grants
 * everything that program can start, including a shell. Only the shell rule below is enforced;
 * list such programs only when that is what you mean.
 */
import { basename, delimiter, isAbsolute, join } from "node:path";

/** Shells refused in `tools.exec.programs` and as `exec`'s argv[0] unless `tools.exec.shell` is on. */
export const SHELLS: ReadonlySet<string> = new Set([
  "sh",
  "bash",
  "rbash",
  "dash",
  "zsh",
  "ksh",
  "mksh",
  "fish",
  "csh",
  "tcsh",
  "ash",
  "busybox",
]);

/** Whether a program is a shell, by the name it was given or by its real path's file name. */
export function isShell(
  realPath: string,
  name: string,
  shellPaths: ReadonlySet<string> = new Set(),
): boolean {
  return SHELLS.has(basename(name)) || SHELLS.has(basename(realPath)) || shellPaths.has(realPath);
}

/** Options of {@linkcode resolvePrograms}. */
export interface ResolveProgramsOptions {
  /** The PATH bare names are looked up on (the value the gateway will pass to programs). */
  pathEnv: string;
  /** Keep shells in the allowlist. @default false */
  shell?: boolean;
}

/**
 * The PATH exec looks bare program names up on: the gateway's own PATH when `tools.exec.env`
 * passes PATH on to programs, else none (then only absolute paths can be allowlisted).
 */
export function execPathEnv(envNames: readonly string[], pathEnv: string | undefined): string {
  return envNames.includes("PATH") ? pathEnv ?? "" : "";
}

/** A configured program left out of the allowlist, and why (for one log line each). */
export interface ProgramProblem {
  name: string;
  reason: string;
}

/** The resolved allowlist. */
export interface ResolvedPrograms {
  /** Real path → the name as configured (`git`, `/usr/local/bin/rg`). */
  programs: Map<string, string>;
  /** Names that are not in `programs`; reported, never thrown, so one bad entry disables only itself. */
  problems: ProgramProblem[];
}

/**
 * Resolves `tools.exec.programs`. Needs read access to the PATH folders and the programs (the
 * `gatehouse permissions` step has it, and grants it to the gateway); a lookup that is not granted
 * is reported as a problem.
 */
export function resolvePrograms(
  names: readonly string[],
  options: ResolveProgramsOptions,
): ResolvedPrograms {
  const programs = new Map<string, string>();
  const problems: ProgramProblem[] = [];
  const allowShells = options.shell ?? false;
  const shellPaths = allowShells ? new Set<string>() : shellRealPaths(options.pathEnv);
  for (const name of names) {
    let found: { real: string } | { reason: string };
    try {
      found = resolveOne(name, options.pathEnv);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotCapable)) throw err;
      found = { reason: `"${name}" could not be looked up: ${err.message}` };
    }
    if ("reason" in found) {
      problems.push({ name, reason: found.reason });
    } else if (!allowShells && isShell(found.real, name, shellPaths)) {
      problems.push({
        name,
        reason:
          `"${name}" (${found.real}) is a shell, which could run any command: remove it or set tools.exec.shell = true`,
      });
    } else if (!programs.has(found.real)) {
      // Two names for one file (python, python3) keep the first; the grant is the same.
      programs.set(found.real, name);
    }
  }
  return { programs, problems };
}

/** One configured name's real path, or why it has none. */
function resolveOne(name: string, pathEnv: string): { real: string } | { reason: string } {
  if (!name.includes("/")) {
    const real = findOnPath(name, pathEnv);
    return real ? { real } : { reason: `"${name}" was not found on PATH (${pathEnv})` };
  }
  if (!isAbsolute(name)) {
    return { reason: `"${name}" is a relative path: use a name found on PATH or an absolute path` };
  }
  const real = executableRealPath(name);
  return real ? { real } : { reason: `"${name}" is not an executable file` };
}

/** The real path of the first executable file called `name` in the absolute folders of `pathEnv`. */
export function findOnPath(name: string, pathEnv: string): string | undefined {
  // Relative entries ("", ".") would make the answer depend on the current folder: skipped.
  for (const dir of pathEnv.split(delimiter).filter((d) => isAbsolute(d))) {
    const real = executableRealPath(join(dir, name));
    if (real) return real;
  }
  return undefined;
}

/** The real paths of the shells found on `pathEnv` and in the usual folders. */
export function shellRealPaths(pathEnv: string): Set<string> {
  const found = new Set<string>();
  const search = [pathEnv, "/bin", "/usr/bin"].join(delimiter);
  for (const name of SHELLS) {
    for (const dir of new Set(search.split(delimiter).filter((d) => isAbsolute(d)))) {
      let real: string | undefined;
      try {
        real = executableRealPath(join(dir, name));
      } catch {
        // A folder it may not read is skipped: the shell names still catch the usual spellings.
      }
      if (real) found.add(real);
    }
  }
  return found;
}

/**
 * `path`'s real path when it is an executable regular file, else undefined. A missing read
 * permission throws (`NotCapable`): "not granted" must not read as "not there".
 */
function executableRealPath(path: string): string | undefined {
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) return undefined;
    // mode is null on Windows, where any file found is taken as runnable.
    if (info.mode !== null && (info.mode & 0o111) === 0) return undefined;
    return Deno.realPathSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    // Missing, unreadable, a PATH entry that is a file, a symlink loop: not a program here.
    return undefined;
  }
}
