/** The shape of a subcommand and the helpers they share. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CONFIG_ENV_VARS, type EnvReader, safeEnv } from "../config/mod.ts";
import { ConfigError, GatehouseError } from "../kernel/mod.ts";
import { ClientError } from "./client_error.ts";

/** A subcommand of the one binary. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Returns the exit code. */
  run(args: string[], env: EnvReader): Promise<number>;
}

/** A usage mistake: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** `parseArgs` with `--help`, strict flags, and a clear word about `--token`. */
export function parse<O extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: O,
): {
  values: Record<string, string | boolean | undefined> & { help?: boolean };
  positionals: string[];
} {
  if (args.some((a) => a === "--token" || a.startsWith("--token="))) {
    throw new UsageError(
      "--token is not accepted: command-line arguments are visible to other users in `ps`; " +
        "use --token-file FILE or the GATEHOUSE_TOKEN environment variable",
    );
  }
  try {
    const r = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return r as never;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Prints a user-facing failure without a stack trace; returns the exit code. */
export function report(err: unknown): number {
  if (err instanceof UsageError) {
    console.error(`gatehouse: ${err.message}`);
    return 2;
  }
  if (err instanceof ConfigError || err instanceof GatehouseError || err instanceof ClientError) {
    console.error(`gatehouse: ${err.message}`);
    return 1;
  }
  if (err instanceof Deno.errors.NotCapable) {
    console.error(
      `gatehouse: ${err.message.split("\n")[0]} (run \`gatehouse permissions\` for the flags)`,
    );
    return 1;
  }
  console.error(`gatehouse: unexpected error: ${(err as Error)?.message ?? String(err)}`);
  return 1;
}

/**
 * The process env. Config variables go through `safeEnv` (a missing grant is an error naming the
 * flag); any other denied variable reads as unset: the start-up permission check reports those.
 */
export const processEnv: EnvReader = (name) => {
  if (CONFIG_ENV_VARS.includes(name)) return safeEnv(name);
  try {
    return Deno.env.get(name) || undefined;
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) return undefined;
    throw err;
  }
};
