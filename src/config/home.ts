/** Where Gatehouse keeps its state, and reading the env vars that decide it without crashing on a missing `--allow-env`. */
import { isAbsolute, join, normalize, resolve } from "node:path";
import { ConfigError } from "../kernel/errors.ts";

/** Reads one environment variable; `undefined` when unset. */
export type EnvReader = (name: string) => string | undefined;

/** The env vars the config loader may read; `gatehouse permissions` turns them into `--allow-env`. */
export const CONFIG_ENV_VARS: readonly string[] = Deno.build.os === "windows"
  ? ["HOME", "GATEHOUSE_HOME", "GATEHOUSE_CONFIG", "USERPROFILE"]
  : ["HOME", "GATEHOUSE_HOME", "GATEHOUSE_CONFIG"];

/** Reads `name` through `env`; a missing `--allow-env` becomes a ConfigError naming the flag, and "" counts as unset. */
export function readEnv(env: EnvReader, name: string): string | undefined {
  let value: string | undefined;
  try {
    value = env(name);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      throw new ConfigError([
        `cannot read env ${name}: run with --allow-env=${CONFIG_ENV_VARS.join(",")} ` +
        "(see `gatehouse permissions`)",
      ]);
    }
    throw err;
  }
  return value === "" ? undefined : value;
}

/** `Deno.env.get` that turns a missing `--allow-env` into a ConfigError naming the flag. */
export function safeEnv(name: string): string | undefined {
  return readEnv((n) => Deno.env.get(n), name);
}

/** The Gatehouse home: `GATEHOUSE_HOME` if set, else `<HOME>/.gatehouse` (USERPROFILE on Windows); always absolute. */
export function resolveHome(env: EnvReader): string {
  const explicit = readEnv(env, "GATEHOUSE_HOME");
  if (explicit) return absolute(explicit, "GATEHOUSE_HOME");
  let base = readEnv(env, "HOME");
  if (!base && Deno.build.os === "windows") base = readEnv(env, "USERPROFILE");
  if (!base) {
    throw new ConfigError([
      "cannot find the Gatehouse home: neither GATEHOUSE_HOME nor HOME is set: " +
      "set GATEHOUSE_HOME to a directory for Gatehouse's state",
    ]);
  }
  return join(absolute(base, "HOME"), ".gatehouse");
}

/** Makes `path` absolute against the working directory, which itself needs `--allow-read`. */
export function absolute(path: string, what: string): string {
  if (isAbsolute(path)) return normalize(path);
  let cwd: string;
  try {
    cwd = Deno.cwd();
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      throw new ConfigError([
        `${what} "${path}" is relative and the working directory cannot be read: ` +
        "give an absolute path or grant --allow-read (see `gatehouse permissions`)",
      ]);
    }
    throw err;
  }
  return resolve(cwd, path);
}
