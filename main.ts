/** Gatehouse: `gatehouse <command>`. The whole program is one binary; this is its entry point. */
import { main } from "./src/cli/mod.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
