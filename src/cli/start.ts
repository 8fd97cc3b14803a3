/** `gatehouse start`: run the gateway until SIGINT/SIGTERM, then stop gracefully. */
import { loadConfig } from "../config/mod.ts";
import { startGateway } from "../gateway/server.ts";
import { createLogger } from "../kernel/mod.ts";
import { dropClientGrants } from "../permissions/mod.ts";
import { type Command, parse } from "./command.ts";

export const start: Command = {
  name: "start",
  summary: "run the gateway in the foreground",
  usage: `gatehouse start [--config FILE]

Runs the gateway until SIGINT or SIGTERM. On a signal it stops accepting messages, lets running
turns finish within gateway.shutdown_grace_seconds, aborts the rest with a note, and closes KV.
  --config FILE   config file (default: $GATEHOUSE_HOME/config.toml; none = embedded defaults)`,
  async run(args, env) {
    const { values } = parse(args, { config: { type: "string" } });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const loaded = await loadConfig({ path: values.config as string | undefined, env });
    const logger = createLogger({
      level: loaded.config.log.level,
      format: loaded.config.log.format,
    });
    for (const w of loaded.warnings) logger.warn(`config: ${w}`);
    // The binary's flags include the client commands' grants (loopback on any port, ssh for
    // `gatehouse tunnel`): the gateway drops them before it serves anything.
    dropClientGrants(loaded, { pathEnv: env("PATH") });
    const gateway = await startGateway({ loaded, logger, env });
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
