/**
 * Child process of `two_fences_test.ts`: opens a workspace (with or without the path check) and
 * calls the `read` tool, as the model would, on the path given; prints the tool result as JSON.
 *
 * Usage: deno run --no-prompt --allow-read=<ws>,<repo> --allow-write=<ws> read_outside.ts
 *          <workspace> <path> <checked|unchecked>
 */
import { fsTools } from "../../../src/tools/fs/mod.ts";
import { ToolRegistry } from "../../../src/tools/registry.ts";
import { Workspace } from "../../../src/tools/workspace.ts";

const [root, path, mode] = Deno.args;
if (!root || !path || (mode !== "checked" && mode !== "unchecked")) {
  console.error("usage: read_outside.ts <workspace> <path> <checked|unchecked>");
  Deno.exit(2);
}
const workspace = await Workspace.open(root, { unsafeSkipConfinement: mode === "unchecked" });
const registry = new ToolRegistry(fsTools({ workspace, maxFileBytes: 1_000_000 }));
const result = await registry.run(
  { id: "call_1", name: "read", arguments: JSON.stringify({ path }) },
  {
    sessionKey: "agent:main:main",
    runId: "run_1",
    model: "test/model",
    signal: new AbortController().signal,
  },
);
console.log(JSON.stringify(result));
