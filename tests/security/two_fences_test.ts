/**
 * The two fences are independent: with the workspace's path check switched off, Deno's runtime
 * permissions still refuse a read outside the granted paths; with it on, the workspace refuses
 * first, in its own words. Each run is a child process with the flags the gateway would get.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import type { ToolResult } from "../../src/kernel/mod.ts";

const REPO = fromFileUrl(new URL("../../", import.meta.url));
const SCRIPT = fromFileUrl(new URL("./_fixtures/read_outside.ts", import.meta.url));
const SECRET = "TOP-SECRET-beyond-both-fences";

/** Runs the fixture granted only the workspace (read, write) and the repository (read). */
async function readInChild(
  ws: string,
  path: string,
  mode: "checked" | "unchecked",
  options: { leaks?: boolean } = {},
): Promise<ToolResult> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-read=${ws},${REPO}`,
      `--allow-write=${ws}`,
      SCRIPT,
      ws,
      path,
      mode,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `the child failed:\n${out}\n${err}`);
  if (!options.leaks) {
    assert.ok(!out.includes(SECRET) && !err.includes(SECRET), "the secret never leaves the file");
  }
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

Deno.test("the two fences are independent", async (t) => {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "gatehouse_fences_" }));
  try {
    const ws = join(base, "ws");
    await Deno.mkdir(ws);
    await Deno.writeTextFile(join(ws, "hello.txt"), "hello\n");
    const secret = join(base, "secret", "secret.txt");
    await Deno.mkdir(join(base, "secret"));
    await Deno.writeTextFile(secret, SECRET);
    await Deno.symlink(secret, join(ws, "secret_link"));

    await t.step(
      "with the path check off, the child still reads inside the workspace",
      async () => {
        const r = await readInChild(ws, "hello.txt", "unchecked");
        assert.deepEqual([r.isError, r.content], [false, "1\thello"]);
      },
    );

    await t.step("with the path check off, Deno refuses the read outside", async () => {
      for (const path of [secret, "../secret/secret.txt"]) {
        const r = await readInChild(ws, path, "unchecked");
        assert.equal(r.isError, true, r.content);
        assert.match(r.content, /^read failed: Requires read access to "[^"]*secret\.txt"/);
        assert.doesNotMatch(r.content, /outside the workspace|leaves the workspace/);
      }
    });

    await t.step("with the path check off, a symlink out gets past Deno", async () => {
      // Deno checks the name it is given, and the link's name is inside the grant: the open then
      // follows the link. This is the hole the workspace's real-path check closes (next step).
      const r = await readInChild(ws, "secret_link", "unchecked", { leaks: true });
      assert.deepEqual([r.isError, r.content], [false, `1\t${SECRET}`]);
    });

    await t.step("with the path check on, the workspace refuses first", async () => {
      const abs = await readInChild(ws, secret, "checked");
      assert.equal(abs.isError, true);
      assert.match(abs.content, /^read failed: .*secret\.txt is outside the workspace/);
      assert.doesNotMatch(abs.content, /Requires read access/);
      const rel = await readInChild(ws, "../secret/secret.txt", "checked");
      assert.match(rel.content, /^read failed: \.\.\/secret\/secret\.txt leaves the workspace/);
      const link = await readInChild(ws, "secret_link", "checked");
      assert.match(link.content, /^read failed: secret_link resolves outside the workspace/);
    });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
