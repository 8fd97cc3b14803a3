/** `gatehouse start`: run the gateway until SIGINT/SIGTERM, then stop gracefully. */
import { loadConfig } from "../config/mod.ts";
import { startGateway } from "../gateway/server.ts";
import { createLogger } from "../kernel/mod.ts";
import { dropClientGrants } from "../permissions/mod.ts";
import { type Command, parse, UsageError } from "./command.ts";

const LOG_FORMATS = ["text", "json"] as const;

export const start: Command = {
  name: "start",
  summary: "run the gateway in the foreground",
  usage: `gatehouse start [--config FILE] [--log-format text|json]

Runs the gateway until SIGINT or SIGTERM. On a signal it stops accepting messages, lets running
turns finish within gateway.shutdown_grace_seconds, aborts the rest with a note, and closes KV.
SIGHUP, or saving the config file, reloads the config: what can change live is applied, the log
says what needs a restart, and an invalid edit is refused (the gateway keeps its last good config).
  --config FILE        config file (default: $GATEHOUSE_HOME/config.toml; none = embedded defaults)
  --log-format FORMAT  text (one line per event) or json (one object per line); overrides [log] format`,
  async run(args, env) {
    const { values } = parse(args, {
      config: { type: "string" },
      "log-format": { type: "string" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const format = values["log-format"] as string | undefined;
    if (format !== undefined && !LOG_FORMATS.includes(format as never)) {
      throw new UsageError(`--log-format ${JSON.stringify(format)}: use text or json`);
    }
    const load = () => loadConfig({ path: values.config as string | undefined, env });
    const loaded = await load();
    const logger = createLogger({
      level: loaded.config.log.level,
      format: (format as typeof LOG_FORMATS[number] | undefined) ?? loaded.config.log.format,
    });
    for (const w of loaded.warnings) logger.warn(`config: ${w}`);
    // The binary's flags include the client commands' grants (loopback on any port, ssh for
    // `gatehouse tunnel`): the gateway drops them before it serves anything.
    dropClientGrants(loaded, { pathEnv: env("PATH") });
    const gateway = await startGateway({ loaded, logger, env, loadConfig: load });
    const stopped = new Promise<string>((resolve) => {
      const signals: Deno.Signal[] = Deno.build.os === "windows"
        ? ["SIGINT"]
        : ["SIGINT", "SIGTERM"];
      for (const sig of signals) Deno.addSignalListener(sig, () => resolve(sig));
    });
    const sig = await stopped;
    logger.info("signal received; stopping", { signal: sig });
    await gateway.stop(`signal ${sig}`);
    return 0;
  },
};
