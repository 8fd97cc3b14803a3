/** `gatehouse permissions`: the least `--allow-*` flags the config needs. */
import { loadConfig } from "../config/mod.ts";
import { gatewayNeeds, needFlag, toFlags } from "../permissions/mod.ts";
import { type Command, parse } from "./command.ts";

export const permissions: Command = {
  name: "permissions",
  summary: "print the Deno permission flags the config needs",
  usage: `gatehouse permissions [--config FILE] [--explain | --json]

Prints the least set of deno run flags for the config, on one line, so that
  deno run $(gatehouse permissions) main.ts start
grants exactly what the gateway needs and nothing else.
  --explain   one line per permission with what needs it
  --json      the needs as JSON`,
  async run(args, env) {
    const { values } = parse(args, {
      config: { type: "string" },
      explain: { type: "boolean" },
      json: { type: "boolean" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const loaded = await loadConfig({ path: values.config as string | undefined, env });
    const needs = gatewayNeeds(loaded, { pathEnv: env("PATH") });
    if (values.json) console.log(JSON.stringify({ flags: toFlags(needs), needs }, null, 2));
    else if (values.explain) {
      for (const n of needs) console.log(`${needFlag(n).padEnd(48)} ${n.for}`);
    } else console.log(toFlags(needs).join(" "));
    return 0;
  },
};
