/** `gatehouse service print-unit`: the systemd unit that runs this gateway, with the current paths. */
import { isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { type EnvReader, loadConfig, type LoadedConfig } from "../config/mod.ts";
import { type Command, parse, UsageError } from "./command.ts";
import { type Launch, systemdUnit, unwrittenConfig } from "./systemd_unit.ts";

/** A user or group name systemd accepts for User= (and useradd for a system account). */
const USER_NAME = /^[a-z_][a-z0-9_-]{0,30}$/;

export const service: Command = {
  name: "service",
  summary: "print the systemd unit that runs the gateway as a hardened service",
  usage: `gatehouse service print-unit [--config FILE] [--binary PATH] [--user NAME]

Prints a systemd unit for this gateway with the current paths (docs/deploy.md):
  --config FILE   the config the service starts with (default: $GATEHOUSE_CONFIG, else
                  $GATEHOUSE_HOME/config.toml); it may not exist yet: the unit then uses the
                  defaults (shutdown grace, store and workspace inside the home)
  --binary PATH   the gatehouse executable ExecStart runs (default: this one when it is a compiled
                  gatehouse; from a source checkout, \`deno run <flags> main.ts\` with the flags
                  \`gatehouse permissions\` computes for the config)
  --user NAME     the account the service runs as (default: gatehouse)
GATEHOUSE_HOME (default ~/.gatehouse) is the state folder the service may write.

The default VPS profile, as shipped in deploy/gatehouse.service:
  sudo GATEHOUSE_HOME=/var/lib/gatehouse gatehouse service print-unit \\
    --config /etc/gatehouse/config.toml --binary /usr/local/bin/gatehouse \\
    > /etc/systemd/system/gatehouse.service`,
  async run(args, env) {
    const { values, positionals } = parse(args, {
      config: { type: "string" },
      binary: { type: "string" },
      user: { type: "string" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const [action, ...rest] = positionals;
    if (action !== "print-unit") {
      throw new UsageError(
        action === undefined
          ? "service needs an action: print-unit"
          : `unknown action ${JSON.stringify(action)}: use print-unit`,
      );
    }
    if (rest.length) throw new UsageError(`print-unit takes no arguments, got ${rest.join(" ")}`);
    const binary = values.binary as string | undefined;
    if (binary !== undefined && !isAbsolute(binary)) {
      throw new UsageError(
        `--binary ${JSON.stringify(binary)} is not an absolute path: systemd runs ExecStart ` +
          "by its full path, like /usr/local/bin/gatehouse",
      );
    }
    const user = (values.user as string | undefined) ?? "gatehouse";
    if (!USER_NAME.test(user)) {
      throw new UsageError(
        `--user ${JSON.stringify(user)} is not a user name: use lower-case letters, digits, _ ` +
          "and -, starting with a letter or _, like gatehouse",
      );
    }
    const loaded = await configForUnit(values.config as string | undefined, env);
    if (!loaded.found) {
      console.error(
        `gatehouse: ${loaded.path} does not exist yet: the unit uses the defaults; ` +
          "write the config before starting the service (start refuses a missing --config file)",
      );
    }
    console.log(systemdUnit(loaded, { launch: launchOf(binary), user }).trimEnd());
    return 0;
  },
};

/** How this gatehouse would be started: the given binary, this compiled one, or this checkout. */
function launchOf(binary: string | undefined): Launch {
  if (binary !== undefined) return { kind: "binary", path: binary };
  if (Deno.build.standalone) return { kind: "binary", path: Deno.execPath() };
  return {
    kind: "source",
    deno: Deno.execPath(),
    main: fileURLToPath(new URL("../../main.ts", import.meta.url)),
  };
}

/** The config as `loadConfig` finds it, or the defaults at `--config` when that file is not there yet. */
async function configForUnit(path: string | undefined, env: EnvReader): Promise<LoadedConfig> {
  try {
    return await loadConfig({ path, env });
  } catch (err) {
    const given = path ?? env("GATEHOUSE_CONFIG");
    if (given === undefined || !isAbsolute(given) || !(await isMissing(given))) throw err;
    return unwrittenConfig(given, env);
  }
}

/** Whether nothing exists at `path` (false when that cannot be told, e.g. without --allow-read). */
async function isMissing(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return false;
  } catch (err) {
    return err instanceof Deno.errors.NotFound;
  }
}
