/** Gatehouse: `gatehouse <command>`. The whole program is one binary; this is its entry point. */
import { z } from "zod";
import { main } from "./src/cli/mod.ts";

// zod compiles a fast path for each object schema on its first parse: ~5 ms of start-up for the
// config alone, to save ~0.5 µs per frame later. Start-up is the budget that binds; frames are not.
z.config({ jitless: true });

if (import.meta.main) Deno.exit(await main(Deno.args));
