/**
 * `deno task compile`: builds `dist/gatehouse-<target>` with `deno compile`, baking in the
 * permission flags `gatehouse permissions` prints for a config (the same functions compute them),
 * then writes `dist/SHA256SUMS` for the files it built.
 *
 * Without `--config` the flags are those of the default VPS profile: `scripts/vps_profile.toml`
 * read as if it were /etc/gatehouse/config.toml with GATEHOUSE_HOME=/var/lib/gatehouse (neither
 * has to exist on the machine that builds). With `--config FILE` they are what
 * `gatehouse permissions --config FILE` prints here, with this machine's GATEHOUSE_HOME and PATH.
 *
 * `deno compile` fetches Deno's runtime (`denort`) for each target from Deno's release host the
 * first time, so the first build needs network access. It reads `DENORT_BIN` itself: a local denort
 * is then used instead, for whatever target is asked (a linux-x64 denort given for aarch64 is
 * written out as is), so with DENORT_BIN set this script builds one target only. A `web/` folder
 * (the browser assets) is embedded with `--include` when it exists. No worker files exist yet; one
 * started with `new Worker(new URL(…))` would need an `--include` here too.
 *
 *   deno task compile [--config FILE] [--target TARGET]… [--target all] [--out DIR] [--dry-run]
 */
import { createHash } from "node:crypto";
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compileArgs, needsFor } from "../src/cli/permissions.ts";
import { type EnvReader, loadConfig, type LoadedConfig, safeEnv } from "../src/config/mod.ts";
import { toFlags } from "../src/permissions/mod.ts";

/** The repository root, where `deno compile` runs (deno.json, deno.lock, main.ts). */
const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The four targets `--target all` builds: Linux x64 and arm64, macOS arm64, Windows x64. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** Every target `deno compile --target` takes in Deno 2.9 (`deno compile --target x` lists them). */
const DENO_TARGETS: readonly string[] = [
  ...TARGETS,
  "x86_64-apple-darwin",
  "aarch64-pc-windows-msvc",
];

/** Where the default VPS profile's config and state live on the server. */
export const VPS_PROFILE = {
  config: "/etc/gatehouse/config.toml",
  home: "/var/lib/gatehouse",
  /** The profile's content, loaded in place of the config. */
  file: fileURLToPath(new URL("./vps_profile.toml", import.meta.url)),
} as const;

/** Folders embedded beside the code when they exist: the browser assets. */
const ASSETS = ["web"];

/** One executable to build. */
export interface Build {
  target: string;
  /** Relative to the repository root unless `--out` was absolute. */
  output: string;
  /** The `deno compile` arguments (after `deno`). */
  args: string[];
}

/** Options of {@linkcode plan}. */
export interface PlanOptions {
  /** The config file; unset means the default VPS profile. */
  config?: string;
  /** Rust target triples, or `all`. @default [this machine's target] */
  targets?: string[];
  /** The folder the executables go to. @default "dist" */
  out?: string;
  /** Reads the environment (GATEHOUSE_HOME, PATH, …) as `gatehouse permissions` does. */
  env: EnvReader;
}

/** What `deno task compile` will build, and with which flags. */
export async function plan(
  options: PlanOptions,
): Promise<{ profile: string; flags: string[]; builds: Build[] }> {
  const targets = resolveTargets(options.targets ?? []);
  const loaded = options.config === undefined
    ? await loadVpsProfile(options.env)
    : await loadConfig({ path: options.config, env: options.env });
  const flags = toFlags(needsFor(loaded, options.env));
  const out = options.out ?? "dist";
  const include: string[] = [];
  for (const dir of ASSETS) if (await exists(join(ROOT, dir))) include.push(dir);
  const builds = targets.map((target) => {
    const output = join(out, `gatehouse-${target}${target.includes("windows") ? ".exe" : ""}`);
    return { target, output, args: compileArgs(flags, { target, output, include }) };
  });
  const profile = options.config === undefined
    ? `default VPS profile (config ${VPS_PROFILE.config}, state ${VPS_PROFILE.home})`
    : `config ${loaded.path}`;
  return { profile, flags, builds };
}

/**
 * The profile's config as if it were `/etc/gatehouse/config.toml` with
 * `GATEHOUSE_HOME=/var/lib/gatehouse`: loaded by the same loader, then placed there. The file
 * will exist on the server, so the binary gets read access to it.
 */
async function loadVpsProfile(env: EnvReader): Promise<LoadedConfig> {
  const profileEnv = (name: string) => name === "GATEHOUSE_HOME" ? VPS_PROFILE.home : env(name);
  const loaded = await loadConfig({ path: VPS_PROFILE.file, env: profileEnv });
  return { ...loaded, path: VPS_PROFILE.config, found: true };
}

function resolveTargets(given: string[]): string[] {
  if (given.length === 0) return [Deno.build.target];
  const out = new Set<string>();
  for (const t of given.flatMap((g) => g.split(","))) {
    if (t === "all") TARGETS.forEach((x) => out.add(x));
    else if (DENO_TARGETS.includes(t)) out.add(t);
    else {
      throw new Error(`--target ${t}: use all or one of ${DENO_TARGETS.join(", ")}`);
    }
  }
  return [...out];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** One argument as a POSIX shell would need it written. */
function shellWord(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The file's SHA-256 in hex, read as a stream (the executables are ~100 MB each). */
async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: "string" },
      target: { type: "string", multiple: true },
      out: { type: "string", default: "dist" },
      "dry-run": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "deno task compile [--config FILE] [--target TARGET]… [--target all] [--out DIR] [--dry-run]",
    );
    return 0;
  }
  const { profile, flags, builds } = await plan({
    config: values.config,
    targets: values.target,
    out: values.out,
    env: safeEnv,
  });
  console.error(`compile: permission flags for the ${profile}:\n  ${flags.join(" ")}`);
  const denort = safeEnv("DENORT_BIN");
  if (values["dry-run"]) {
    for (const b of builds) console.log(["deno", ...b.args].map(shellWord).join(" "));
    return 0;
  }
  if (denort && builds.length > 1) {
    console.error(
      `compile: DENORT_BIN (${denort}) is one runtime for one target, and deno compile uses it ` +
        "for every target: pass a single --target that matches it",
    );
    return 2;
  }
  if (denort) console.error(`compile: deno compile uses DENORT_BIN=${denort} as the runtime`);
  const outDir = resolve(ROOT, values.out!);
  await Deno.mkdir(outDir, { recursive: true });
  const sums: string[] = [];
  for (const b of builds) {
    console.error(`compile: ${b.output}`);
    const status = await new Deno.Command(Deno.execPath(), { args: b.args, cwd: ROOT }).spawn()
      .status;
    if (!status.success) {
      console.error(
        `compile: deno compile failed for ${b.target}. If it could not download denort: the ` +
          "first compile of each target needs network access to Deno's release host, or set " +
          "DENORT_BIN to a denort binary for that target.",
      );
      return status.code || 1;
    }
    // The format of `sha256sum`, so `sha256sum -c SHA256SUMS` checks a download.
    sums.push(`${await sha256(resolve(ROOT, b.output))}  ${basename(b.output)}`);
  }
  const sumsPath = join(outDir, "SHA256SUMS");
  await Deno.writeTextFile(sumsPath, sums.join("\n") + "\n");
  console.error(`compile: ${relative(ROOT, sumsPath) || sumsPath}\n${sums.join("\n")}`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    console.error(`compile: ${err instanceof Error ? err.message : String(err)}`);
    Deno.exit(1);
  }
}
