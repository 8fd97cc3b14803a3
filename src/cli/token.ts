/** `gatehouse token`: print or rotate the local gateway token. */
import { loadConfig } from "../config/mod.ts";
import { ensureTokenFile, writeTokenFile } from "../gateway/token.ts";
import { type Command, parse } from "./command.ts";

export const token: Command = {
  name: "token",
  summary: "print (or --rotate) the gateway token",
  usage: `gatehouse token [--rotate] [--path] [--config FILE]

Prints the token clients use to connect, creating it (mode 0600) if it does not exist yet.
  --rotate   replace it with a new random token; the running gateway uses the new one for the
             next connect (connected clients stay connected)
  --path     print the token file's path instead of the token`,
  async run(args, env) {
    const { values } = parse(args, {
      rotate: { type: "boolean" },
      path: { type: "boolean" },
      config: { type: "string" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const loaded = await loadConfig({ path: values.config as string | undefined, env });
    if (loaded.config.gateway.auth.token_env) {
      console.error(
        `gatehouse: the token comes from env ${loaded.config.gateway.auth.token_env} (gateway.auth.token_env); ` +
          "change it there",
      );
      return 1;
    }
    if (values.path) {
      console.log(loaded.tokenPath);
      return 0;
    }
    const value = values.rotate
      ? await writeTokenFile(loaded.tokenPath)
      : await ensureTokenFile(loaded.tokenPath);
    console.log(value);
    if (values.rotate) console.error(`gatehouse: new token written to ${loaded.tokenPath}`);
    return 0;
  },
};
