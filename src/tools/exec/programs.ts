/**
 * The `exec` allowlist: `tools.exec.programs` resolved once, at start-up, to real paths (each
 * becomes an `--allow-run=<real path>` grant). Bare names are looked up on PATH like a shell
 * would; absolute paths are followed through symlinks. Shells are left out unless
 * `tools.exec.shell` is on, since `sh -c` runs anything.
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
 * `gatehouse permissions` step has it); the running gateway keeps only the result.
 */
export async function resolvePrograms(
  names: readonly string[],
  options: ResolveProgramsOptions,
): Promise<ResolvedPrograms> {
  const programs = new Map<string, string>();
  const problems: ProgramProblem[] = [];
  const allowShells = options.shell ?? false;
  const shellPaths = allowShells ? new Set<string>() : await shellRealPaths(options.pathEnv);
  for (const name of names) {
    let found: { real: string } | { reason: string };
    try {
      found = await resolveOne(name, options.pathEnv);
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
async function resolveOne(
  name: string,
  pathEnv: string,
): Promise<{ real: string } | { reason: string }> {
  if (!name.includes("/")) {
    const real = await findOnPath(name, pathEnv);
    return real ? { real } : { reason: `"${name}" was not found on PATH (${pathEnv})` };
  }
  if (!isAbsolute(name)) {
    return { reason: `"${name}" is a relative path: use a name found on PATH or an absolute path` };
  }
  const real = await executableRealPath(name);
  return real ? { real } : { reason: `"${name}" is not an executable file` };
}

/** The real path of the first executable file called `name` in the absolute folders of `pathEnv`. */
export async function findOnPath(name: string, pathEnv: string): Promise<string | undefined> {
  // Relative entries ("", ".") would make the answer depend on the current folder: skipped.
  for (const dir of pathEnv.split(delimiter).filter((d) => isAbsolute(d))) {
    const real = await executableRealPath(join(dir, name));
    if (real) return real;
  }
  return undefined;
}

/** The real paths of the shells found on `pathEnv` and in the usual folders. */
export async function shellRealPaths(pathEnv: string): Promise<Set<string>> {
  const found = new Set<string>();
  const search = [pathEnv, "/bin", "/usr/bin"].join(delimiter);
  for (const name of SHELLS) {
    for (const dir of new Set(search.split(delimiter).filter((d) => isAbsolute(d)))) {
      // A folder it may not read is skipped: the shell names still catch the usual spellings.
      const real = await executableRealPath(join(dir, name)).catch(() => undefined);
      if (real) found.add(real);
    }
  }
  return found;
}

/**
 * `path`'s real path when it is an executable regular file, else undefined. A missing read
 * permission throws (`NotCapable`): "not granted" must not read as "not there".
 */
async function executableRealPath(path: string): Promise<string | undefined> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return undefined;
    // mode is null on Windows, where any file found is taken as runnable.
    if (info.mode !== null && (info.mode & 0o111) === 0) return undefined;
    return await Deno.realPath(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    // Missing, unreadable, a PATH entry that is a file, a symlink loop: not a program here.
    return undefined;
  }
}
