/** `gatehouse permissions`: the least `--allow-*` flags the config needs. */
import { type EnvReader, loadConfig, type LoadedConfig } from "../config/mod.ts";
import { binaryNeeds, type Need, needFlag, toFlags } from "../permissions/mod.ts";
import { type Command, parse, UsageError } from "./command.ts";

/**
 * The needs as a deno.json permission set (`"permissions": {"gateway": …}`, used with
 * `deno run -P=gateway`): the same grants as the flags, in the config file's shape.
 */
export function permissionSet(needs: Need[]): Record<string, unknown> {
  const values = (kind: Need["kind"]) => needs.filter((n) => n.kind === kind).map((n) => n.value);
  const set: Record<string, unknown> = {};
  for (const kind of ["net", "read", "write", "run"] as const) {
    const v = values(kind);
    if (v.length) set[kind] = { allow: v.includes("*") ? true : v };
  }
  const denied = values("deny-net");
  if (denied.length) set.net = { ...(set.net as object), deny: denied };
  const env: Record<string, unknown> = {};
  if (values("env").length) env.allow = values("env");
  if (values("ignore-env").length) env.ignore = values("ignore-env");
  if (Object.keys(env).length) set.env = env;
  return { permissions: { gateway: set } };
}

/**
 * The needs this command prints for a loaded config; `deno task compile` (scripts/compile.ts)
 * bakes the same into the binary. `env` supplies PATH, where exec's programs are looked up.
 */
export function needsFor(loaded: LoadedConfig, env: EnvReader): Need[] {
  return binaryNeeds(loaded, { pathEnv: env("PATH") });
}

/** Options of {@linkcode compileArgs}. */
export interface CompileArgsOptions {
  /** The executable to write. */
  output: string;
  /** A `deno compile --target`; unset builds for this machine. */
  target?: string;
  /** Files or folders embedded beside the code (`--include`). @default [] */
  include?: string[];
}

/**
 * The `deno compile` arguments (after `deno`) that bake `flags` into a gatehouse executable. No
 * subcommand is baked in: the binary is the whole CLI (`gatehouse start`, `gatehouse chat`, …),
 * and arguments given to `deno compile` after the entry would come before each user's own.
 */
export function compileArgs(flags: string[], options: CompileArgsOptions): string[] {
  return [
    "compile",
    ...flags,
    ...(options.target ? ["--target", options.target] : []),
    "--output",
    options.output,
    ...(options.include ?? []).flatMap((path) => ["--include", path]),
    "main.ts",
  ];
}

export const permissions: Command = {
  name: "permissions",
  summary: "print the Deno permission flags the config needs",
  usage:
    `gatehouse permissions [--config FILE] [--format flags|deno-json|compile] [--explain | --json]

Prints the least set of deno run flags for the config, on one line, so that
  deno run $(gatehouse permissions) main.ts start
grants exactly what the gateway needs and nothing else, plus what the client commands need:
127.0.0.1 on any port (--url through an SSH forward) and the ssh on PATH (gatehouse tunnel).
\`gatehouse start\` drops those two before the gateway serves anything.
  --format flags       the flags on one line (default)
  --format deno-json   the same grants as a deno.json permission set (run with -P=gateway)
  --format compile     the deno compile command that bakes these flags into the binary
                       (deno task compile builds it for every target)
  --explain            one line per permission with what needs it
  --json               the needs as JSON`,
  async run(args, env) {
    const { values } = parse(args, {
      config: { type: "string" },
      format: { type: "string" },
      explain: { type: "boolean" },
      json: { type: "boolean" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const loaded = await loadConfig({ path: values.config as string | undefined, env });
    const needs = needsFor(loaded, env);
    const format = (values.format as string | undefined) ?? "flags";
    if (!["flags", "deno-json", "compile"].includes(format)) {
      throw new UsageError(`--format ${format}: use flags, deno-json or compile`);
    }
    if (format === "deno-json") console.log(JSON.stringify(permissionSet(needs), null, 2));
    else if (format === "compile") {
      // Every command of the binary runs under exactly these grants.
      console.log(["deno", ...compileArgs(toFlags(needs), { output: "gatehouse" })].join(" "));
    } else if (values.json) console.log(JSON.stringify({ flags: toFlags(needs), needs }, null, 2));
    else if (values.explain) {
      for (const n of needs) console.log(`${needFlag(n).padEnd(48)} ${n.for}`);
    } else console.log(toFlags(needs).join(" "));
    return 0;
  },
};
