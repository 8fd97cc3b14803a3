/**
 * The file tools under attack, called as the model calls them (JSON arguments through the
 * registry): traversal, absolute paths and symlinks out of the workspace are refused with a clear
 * message and nothing lands outside, not even a temporary file. Then what the tools do when used
 * as meant: ranges, binary files, size limits, atomic writes, edits and listings.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ToolResult } from "../../src/kernel/mod.ts";
import { fsTools, globToRegExp } from "../../src/tools/fs/mod.ts";
import { ToolRegistry } from "../../src/tools/registry.ts";
import { Workspace } from "../../src/tools/workspace.ts";

const MAX = 4096;
const SECRET = "TOP-SECRET-outside-the-workspace";

/**
 * A base folder holding the workspace and, beside it, a folder the tools must never touch:
 * `outside/secret.txt`, `outside/dir/secret.txt`. The workspace holds symlinks out of it.
 */
async function fixture() {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "gatehouse_fs_" }));
  const outside = join(base, "outside");
  await Deno.mkdir(join(outside, "dir"), { recursive: true });
  await Deno.writeTextFile(join(outside, "secret.txt"), SECRET);
  await Deno.writeTextFile(join(outside, "dir", "secret.txt"), SECRET);
  const workspace = await Workspace.open(join(base, "ws"));
  const ws = workspace.root;
  await Deno.symlink("/etc/passwd", join(ws, "passwd_link"));
  await Deno.symlink(join(outside, "secret.txt"), join(ws, "secret_link"));
  await Deno.symlink(join(outside, "dir"), join(ws, "outdir_link"));
  await Deno.symlink(join(outside, "new.txt"), join(ws, "dangling"));
  await Deno.symlink(join(outside, "newdir"), join(ws, "dangling_dir"));
  const registry = new ToolRegistry(fsTools({ workspace, maxFileBytes: MAX }));
  let n = 0;
  const call = (name: string, args: unknown): Promise<ToolResult> =>
    registry.run({ id: `call_${++n}`, name, arguments: JSON.stringify(args) }, {
      sessionKey: "agent:main:main",
      runId: "run_1",
      model: "test/model",
      signal: new AbortController().signal,
    });
  const before = await snapshot(base, ws);
  return {
    base,
    ws,
    outside,
    workspace,
    registry,
    call,
    /** Asserts nothing outside the workspace changed since the fixture was made. */
    async untouched() {
      assert.deepEqual(await snapshot(base, ws), before);
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(base, { recursive: true });
    },
  };
}

/** Every entry under `base` but the workspace, with file contents and link targets. */
async function snapshot(base: string, skip: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const p = join(dir, e.name);
      if (p === skip) continue;
      if (e.isSymlink) out[p] = `-> ${await Deno.readLink(p)}`;
      else if (e.isDirectory) {
        out[p] = "dir";
        await walk(p);
      } else out[p] = await Deno.readTextFile(p);
    }
  };
  await walk(base);
  return out;
}

/** Every path under `dir`, relative, sorted. */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    out.push(prefix + e.name);
    if (e.isDirectory) out.push(...await tree(join(dir, e.name), `${prefix}${e.name}/`));
  }
  return out.sort();
}

function refused(r: ToolResult, why: RegExp) {
  assert.equal(r.isError, true, r.content);
  assert.match(r.content, why);
  assert.doesNotMatch(r.content, /\n\s+at /, "no stack trace");
  assert.ok(!r.content.includes(SECRET), "the secret does not leak");
  assert.ok(!r.content.includes("root:x:0"), "/etc/passwd does not leak");
}

const OUTSIDE = /outside the workspace|leaves the workspace/;

Deno.test("fs tools refuse paths that leave the workspace", async (t) => {
  await using fx = await fixture();

  await t.step("../ traversal, to read and to write", async () => {
    refused(await fx.call("read", { path: "../outside/secret.txt" }), /leaves the workspace/);
    refused(
      await fx.call("read", { path: "notes/../../outside/secret.txt" }),
      /leaves the workspace/,
    );
    refused(await fx.call("write", { path: "../outside/evil.txt", content: "x" }), OUTSIDE);
    refused(await fx.call("write", { path: "../evil.txt", content: "x" }), OUTSIDE);
    refused(
      await fx.call("write", { path: "new/../../../outside/evil.txt", content: "x" }),
      OUTSIDE,
    );
    refused(
      await fx.call("edit", { path: "../outside/secret.txt", old: "TOP", new: "x" }),
      OUTSIDE,
    );
    refused(await fx.call("list", { path: ".." }), OUTSIDE);
    await fx.untouched();
    assert.deepEqual(await tree(fx.ws), [
      "dangling",
      "dangling_dir",
      "outdir_link",
      "passwd_link",
      "secret_link",
    ]);
  });

  await t.step("absolute paths outside: /etc/passwd, /tmp/x", async () => {
    const tmpX = await Deno.lstat("/tmp/x").then((i) => i.mtime?.getTime(), () => "absent");
    refused(
      await fx.call("read", { path: "/etc/passwd" }),
      /\/etc\/passwd is outside the workspace/,
    );
    refused(await fx.call("write", { path: "/tmp/x", content: "pwned" }), /outside the workspace/);
    refused(await fx.call("edit", { path: "/etc/passwd", old: "root", new: "toor" }), OUTSIDE);
    refused(await fx.call("list", { path: "/etc" }), OUTSIDE);
    refused(
      await fx.call("write", { path: join(fx.outside, "abs.txt"), content: "x" }),
      OUTSIDE,
    );
    assert.equal(
      await Deno.lstat("/tmp/x").then((i) => i.mtime?.getTime(), () => "absent"),
      tmpX,
    );
    await fx.untouched();
  });

  await t.step("a symlink to /etc/passwd: read, write and edit through it", async () => {
    refused(await fx.call("read", { path: "passwd_link" }), /resolves outside the workspace/);
    refused(
      await fx.call("write", { path: "passwd_link", content: "x" }),
      /symlink that points outside/,
    );
    refused(await fx.call("edit", { path: "passwd_link", old: "root", new: "x" }), OUTSIDE);
    assert.equal((await Deno.lstat(join(fx.ws, "passwd_link"))).isSymlink, true);
  });

  await t.step("a symlink to a file outside: write and edit leave it alone", async () => {
    refused(await fx.call("read", { path: "secret_link" }), OUTSIDE);
    refused(await fx.call("write", { path: "secret_link", content: "overwritten" }), OUTSIDE);
    refused(await fx.call("edit", { path: "secret_link", old: "TOP", new: "x" }), OUTSIDE);
    assert.equal(await Deno.readTextFile(join(fx.outside, "secret.txt")), SECRET);
    assert.equal((await Deno.lstat(join(fx.ws, "secret_link"))).isSymlink, true);
    await fx.untouched();
  });

  await t.step("a symlink to a folder outside: read, write, new files, list", async () => {
    refused(await fx.call("read", { path: "outdir_link/secret.txt" }), OUTSIDE);
    refused(
      await fx.call("write", { path: "outdir_link/secret.txt", content: "x" }),
      OUTSIDE,
    );
    refused(await fx.call("write", { path: "outdir_link/new.txt", content: "x" }), OUTSIDE);
    refused(
      await fx.call("write", { path: "outdir_link/deeper/new.txt", content: "x" }),
      OUTSIDE,
    );
    refused(
      await fx.call("edit", { path: "outdir_link/secret.txt", old: "TOP", new: "x" }),
      OUTSIDE,
    );
    refused(await fx.call("list", { path: "outdir_link" }), OUTSIDE);
    refused(await fx.call("read", { path: "outdir_link" }), OUTSIDE);
    await fx.untouched();
  });

  await t.step("list shows symlinks but never descends into them", async () => {
    const top = await fx.call("list", {});
    assert.equal(top.isError, false, top.content);
    assert.equal(
      top.content,
      [
        "dangling -> (symlink)",
        "dangling_dir -> (symlink)",
        "outdir_link -> (symlink)",
        "passwd_link -> (symlink)",
        "secret_link -> (symlink)",
      ].join("\n"),
    );
    const all = await fx.call("list", { glob: "**" });
    assert.equal(all.content, top.content);
    const deep = await fx.call("list", { glob: "outdir_link/**" });
    assert.match(deep.content, /^nothing under \. matches/);
  });

  await t.step("dangling symlinks pointing outside, as a file or a folder", async () => {
    refused(
      await fx.call("write", { path: "dangling", content: "x" }),
      /symlink to a missing target/,
    );
    refused(
      await fx.call("write", { path: "dangling_dir/x.txt", content: "x" }),
      /symlink to a missing target/,
    );
    refused(
      await fx.call("write", { path: "dangling_dir/a/b.txt", content: "x" }),
      /symlink to a missing target/,
    );
    refused(await fx.call("read", { path: "dangling" }), /does not exist/);
    await fx.untouched();
  });

  await t.step("prepare refuses too, and creates nothing", async () => {
    const write = fx.registry.get("write")!;
    const ctx = {
      sessionKey: "agent:main:main",
      runId: "run_1",
      callId: "c",
      model: "test/model",
      signal: new AbortController().signal,
    };
    await assert.rejects(
      write.prepare!({ path: "outdir_link/x.txt", content: "x" }, ctx),
      { name: "OutsideWorkspace" },
    );
    assert.deepEqual(await write.prepare!({ path: "a/b/c.txt", content: "hello" }, ctx), {
      summary: "write a/b/c.txt (5 bytes)",
      args: { path: "a/b/c.txt" },
    });
    await assert.rejects(Deno.lstat(join(fx.ws, "a")), Deno.errors.NotFound);
    const edit = fx.registry.get("edit")!;
    await assert.rejects(
      edit.prepare!({ path: "secret_link", old: "TOP", new: "x" }, ctx),
      { name: "OutsideWorkspace" },
    );
  });

  await t.step("a NUL byte in a path is refused", async () => {
    refused(await fx.call("read", { path: "a\u0000b" }), /NUL/);
    refused(await fx.call("write", { path: "a\u0000b", content: "x" }), /NUL/);
  });

  await t.step("paths that stay inside still work (absolute, symlink within)", async () => {
    const w = await fx.call("write", { path: join(fx.ws, "inside.txt"), content: "ok\n" });
    assert.deepEqual([w.isError, w.content], [false, "wrote 3 bytes to inside.txt"]);
    await Deno.symlink(join(fx.ws, "inside.txt"), join(fx.ws, "inner_link"));
    assert.equal((await fx.call("read", { path: "inner_link" })).content, "1\tok");
    const w2 = await fx.call("write", { path: "inner_link", content: "new\n" });
    assert.equal(w2.content, "wrote 4 bytes to inside.txt");
    assert.equal((await Deno.lstat(join(fx.ws, "inner_link"))).isSymlink, true);
    assert.equal(await Deno.readTextFile(join(fx.ws, "inside.txt")), "new\n");
    await fx.untouched();
  });
});

Deno.test("read shows numbered lines, in ranges, and stops at the size limit", async (t) => {
  await using fx = await fixture();
  const lines = Array.from({ length: 10 }, (_, i) => `line ${i + 1}`);
  await Deno.writeTextFile(join(fx.ws, "ten.txt"), lines.join("\n") + "\n");

  await t.step("the whole file", async () => {
    const r = await fx.call("read", { path: "ten.txt" });
    assert.equal(r.isError, false);
    assert.equal(r.content, lines.map((l, i) => `${i + 1}\t${l}`).join("\n"));
  });

  await t.step("offset and limit select lines, with a hint to continue", async () => {
    const r = await fx.call("read", { path: "ten.txt", offset: 3, limit: 2 });
    assert.equal(r.content, "3\tline 3\n4\tline 4\n[more lines follow; continue with offset=5]");
    const tail = await fx.call("read", { path: "ten.txt", offset: 9 });
    assert.equal(tail.content, "9\tline 9\n10\tline 10");
    const exact = await fx.call("read", { path: "ten.txt", offset: 8, limit: 3 });
    assert.equal(exact.content, "8\tline 8\n9\tline 9\n10\tline 10");
    const head = await fx.call("read", { path: "ten.txt", limit: 1 });
    assert.equal(head.content, "1\tline 1\n[more lines follow; continue with offset=2]");
  });

  await t.step("an offset past the end, and bad ranges", async () => {
    const r = await fx.call("read", { path: "ten.txt", offset: 11 });
    assert.equal(r.isError, true);
    assert.match(r.content, /offset 11 is past the end of ten.txt, which has 10 lines/);
    const zero = await fx.call("read", { path: "ten.txt", offset: 0 });
    assert.equal(zero.isError, true);
    assert.match(zero.content, /^invalid arguments for read: offset/);
  });

  await t.step("a file over the limit is refused whole, read in parts", async () => {
    const big = Array.from({ length: 1000 }, (_, i) => `row ${i + 1}`).join("\n");
    await Deno.writeTextFile(join(fx.ws, "big.txt"), big);
    const r = await fx.call("read", { path: "big.txt" });
    assert.equal(r.isError, true);
    assert.match(r.content, /big.txt is \d+ bytes, over the 4096-byte limit: read it in parts/);
    const part = await fx.call("read", { path: "big.txt", offset: 998, limit: 5 });
    assert.equal(part.content, "998\trow 998\n999\trow 999\n1000\trow 1000");
    // Without a limit the output stops when the text shown reaches the limit, saying where to go on.
    const rest = await fx.call("read", { path: "big.txt", offset: 2 });
    assert.match(rest.content, /\n\[output limit reached; continue with offset=\d+\]$/);
    const shown = rest.content.split("\n").slice(0, -1).map((l) => l.slice(l.indexOf("\t") + 1));
    assert.equal(shown[0], "row 2");
    assert.ok(shown.join("\n").length <= MAX, "the file text shown fits the limit");
  });

  await t.step("one line longer than the limit is cut", async () => {
    await Deno.writeTextFile(join(fx.ws, "wide.txt"), "x".repeat(MAX * 3) + "\nshort\n");
    const r = await fx.call("read", { path: "wide.txt", offset: 1, limit: 2 });
    assert.equal(r.isError, false);
    assert.match(
      r.content,
      /^1\tx{4096}\n\[line 1 is cut at 4096 characters; continue with offset=2\]$/,
    );
  });

  await t.step("binary files are reported, not dumped", async () => {
    await Deno.writeFile(join(fx.ws, "nul.bin"), new Uint8Array([0x41, 0x00, 0x42, 0x43]));
    const nul = await fx.call("read", { path: "nul.bin" });
    assert.deepEqual([nul.isError, nul.content], [false, "binary file, 4 bytes (not shown)"]);
    await Deno.writeFile(join(fx.ws, "latin1.txt"), new Uint8Array([0x63, 0x61, 0x66, 0xe9]));
    const latin1 = await fx.call("read", { path: "latin1.txt" });
    assert.equal(latin1.content, "binary file, 4 bytes (not shown)");
    // Over the size limit, a binary file is still just reported.
    await Deno.writeFile(join(fx.ws, "big.bin"), new Uint8Array(MAX * 2));
    assert.equal(
      (await fx.call("read", { path: "big.bin" })).content,
      `binary file, ${MAX * 2} bytes (not shown)`,
    );
    // A character cut by the 8 KB sample is still text.
    const edge = "a".repeat(8191) + "é" + "\nend";
    await Deno.writeTextFile(join(fx.ws, "edge.txt"), edge);
    const text = await fx.call("read", { path: "edge.txt", offset: 2 });
    assert.equal(text.content, "2\tend");
  });

  await t.step("folders, missing files and empty files", async () => {
    await Deno.mkdir(join(fx.ws, "sub"));
    const dir = await fx.call("read", { path: "sub" });
    assert.equal(dir.isError, true);
    assert.match(dir.content, /sub is a folder: use list/);
    const missing = await fx.call("read", { path: "nope.txt" });
    assert.equal(missing.isError, true);
    assert.match(missing.content, /nope.txt does not exist/);
    assert.ok(!missing.content.includes(fx.ws), "the message speaks in workspace paths");
    await Deno.writeTextFile(join(fx.ws, "empty.txt"), "");
    assert.equal((await fx.call("read", { path: "empty.txt" })).content, "(empty file)");
  });
});

Deno.test("write creates folders and replaces files atomically, within the size limit", async (t) => {
  await using fx = await fixture();

  await t.step("missing folders are created and no temporary file is left", async () => {
    const r = await fx.call("write", { path: "a/b/c.txt", content: "héllo\n" });
    assert.deepEqual([r.isError, r.content], [false, "wrote 7 bytes to a/b/c.txt"]);
    assert.equal(await Deno.readTextFile(join(fx.ws, "a/b/c.txt")), "héllo\n");
    assert.deepEqual(await tree(join(fx.ws, "a")), ["b", "b/c.txt"]);
  });

  await t.step("replacing keeps the file's permissions", async () => {
    await Deno.chmod(join(fx.ws, "a/b/c.txt"), 0o600);
    const r = await fx.call("write", { path: "a/b/c.txt", content: "two" });
    assert.equal(r.content, "wrote 3 bytes to a/b/c.txt");
    const info = await Deno.stat(join(fx.ws, "a/b/c.txt"));
    assert.equal(info.mode! & 0o777, 0o600);
    assert.deepEqual(await tree(join(fx.ws, "a")), ["b", "b/c.txt"]);
  });

  await t.step("content over the limit is refused before anything is created", async () => {
    const r = await fx.call("write", { path: "big/x.txt", content: "é".repeat(MAX / 2 + 1) });
    assert.equal(r.isError, true);
    assert.match(r.content, /content is 4098 bytes, over the 4096-byte limit/);
    await assert.rejects(Deno.lstat(join(fx.ws, "big")), Deno.errors.NotFound);
  });

  await t.step("a folder, the workspace itself, or a file used as a folder", async () => {
    const dir = await fx.call("write", { path: "a/b", content: "x" });
    assert.equal(dir.isError, true);
    assert.match(dir.content, /a\/b is a folder/);
    const root = await fx.call("write", { path: ".", content: "x" });
    assert.match(root.content, /the workspace itself/);
    const through = await fx.call("write", { path: "a/b/c.txt/d.txt", content: "x" });
    assert.equal(through.isError, true);
    assert.match(through.content, /goes through a file as if it were a folder/);
    assert.deepEqual(await tree(join(fx.ws, "a")), ["b", "b/c.txt"]);
  });

  await t.step("an approved call writes the path prepare resolved", async () => {
    const write = fx.registry.get("write")!;
    const base = {
      sessionKey: "agent:main:main",
      runId: "run_1",
      callId: "c",
      model: "test/model",
      signal: new AbortController().signal,
    };
    const prepared = await write.prepare!({ path: "./bound.txt", content: "x" }, base);
    assert.deepEqual(prepared.args, { path: "bound.txt" });
    const out = await write.run({ path: "./bound.txt", content: "x" }, { ...base, prepared });
    assert.equal(out, "wrote 1 bytes to bound.txt");
  });
  await fx.untouched();
});

Deno.test("edit replaces exact text once, or every time with all", async (t) => {
  await using fx = await fixture();
  const file = join(fx.ws, "code.ts");
  await Deno.writeTextFile(file, "let a = 1;\nlet b = 1;\nlet c = 1;\n");

  await t.step("text that is not there", async () => {
    const r = await fx.call("edit", { path: "code.ts", old: "let d", new: "let e" });
    assert.equal(r.isError, true);
    assert.match(r.content, /not found: old does not occur in code.ts\. Read the file first/);
  });

  await t.step("text that occurs more than once, without all", async () => {
    const r = await fx.call("edit", { path: "code.ts", old: "= 1", new: "= 2" });
    assert.equal(r.isError, true);
    assert.match(r.content, /old occurs 3 times in code.ts: add surrounding lines .* all: true/);
    assert.equal(await Deno.readTextFile(file), "let a = 1;\nlet b = 1;\nlet c = 1;\n");
  });

  await t.step("one occurrence", async () => {
    const r = await fx.call("edit", { path: "code.ts", old: "let b = 1;", new: "let b = 2;" });
    assert.deepEqual([r.isError, r.content], [false, "replaced 1 occurrence in code.ts"]);
    assert.equal(await Deno.readTextFile(file), "let a = 1;\nlet b = 2;\nlet c = 1;\n");
  });

  await t.step("all: true, with $ patterns kept literal", async () => {
    const r = await fx.call("edit", { path: "code.ts", old: "let", new: "$&$1 const", all: true });
    assert.equal(r.content, "replaced 3 occurrences in code.ts");
    assert.equal(
      await Deno.readTextFile(file),
      "$&$1 const a = 1;\n$&$1 const b = 2;\n$&$1 const c = 1;\n",
    );
    assert.deepEqual(await tree(fx.ws), [
      "code.ts",
      "dangling",
      "dangling_dir",
      "outdir_link",
      "passwd_link",
      "secret_link",
    ]);
  });

  await t.step("empty old, same old and new, binary files, growth over the limit", async () => {
    const empty = await fx.call("edit", { path: "code.ts", old: "", new: "x" });
    assert.equal(empty.isError, true);
    assert.match(empty.content, /^invalid arguments for edit: old/);
    const same = await fx.call("edit", { path: "code.ts", old: "a", new: "a" });
    assert.match(same.content, /old and new are the same/);
    await Deno.writeFile(join(fx.ws, "x.bin"), new Uint8Array([1, 0, 2]));
    const bin = await fx.call("edit", { path: "x.bin", old: "\u0001", new: "x" });
    assert.match(bin.content, /binary file/);
    const grow = await fx.call("edit", {
      path: "code.ts",
      old: "const",
      new: "y".repeat(MAX),
      all: true,
    });
    assert.equal(grow.isError, true);
    assert.match(grow.content, /would be \d+ bytes, over the 4096-byte limit/);
  });
  await fx.untouched();
});

Deno.test("list shows sorted entries, recursively with a glob, and stops at 1,000", async (t) => {
  await using fx = await fixture();
  for (const p of ["src/a.ts", "src/b.md", "src/deep/c.ts", "README.md", ".hidden"]) {
    await fx.call("write", { path: p, content: "x" });
  }
  for (const l of await tree(fx.ws)) {
    if (l.endsWith("_link") || l.startsWith("dangling")) await Deno.remove(join(fx.ws, l));
  }

  await t.step("a folder, non-recursive, folders marked with /", async () => {
    assert.equal((await fx.call("list", {})).content, ".hidden\nREADME.md\nsrc/");
    assert.equal(
      (await fx.call("list", { path: "src" })).content,
      "src/a.ts\nsrc/b.md\nsrc/deep/",
    );
    const file = await fx.call("list", { path: "README.md" });
    assert.equal(file.isError, true);
    assert.match(file.content, /README.md is a file: use read/);
  });

  await t.step("a glob, matched from the workspace root", async () => {
    assert.equal(
      (await fx.call("list", { glob: "**/*.ts" })).content,
      "src/a.ts\nsrc/deep/c.ts",
    );
    assert.equal(
      (await fx.call("list", { glob: "src/*" })).content,
      "src/a.ts\nsrc/b.md\nsrc/deep/",
    );
    assert.equal((await fx.call("list", { glob: "*.md" })).content, "README.md");
    assert.equal((await fx.call("list", { path: "src", glob: "**/?.md" })).content, "src/b.md");
    assert.match(
      (await fx.call("list", { glob: "*.rs" })).content,
      /^nothing under \. matches "\*\.rs"/,
    );
  });

  await t.step("the listing stops at 1,000 entries with a marker", async () => {
    await Deno.mkdir(join(fx.ws, "many"));
    for (let i = 0; i < 1005; i++) {
      await Deno.writeTextFile(join(fx.ws, "many", `f${String(i).padStart(4, "0")}`), "");
    }
    const r = await fx.call("list", { path: "many" });
    const lines = r.content.split("\n");
    assert.equal(lines.length, 1001);
    assert.equal(lines[999], "many/f0999");
    assert.match(lines[1000], /more entries not shown/);
    const g = await fx.call("list", { glob: "many/**" });
    assert.equal(g.content.split("\n").length, 1001);
  });
});

Deno.test("globToRegExp: *, ? and ** over / separated paths", () => {
  const cases: [string, string[], string[]][] = [
    ["*.ts", ["a.ts", ".x.ts"], ["src/a.ts", "a.tsx"]],
    ["src/**/*.ts", ["src/a.ts", "src/x/y/a.ts"], ["a.ts", "lib/src/a.ts"]],
    ["**", ["a", "a/b/c"], []],
    ["**/b", ["b", "a/b", "a/x/b"], ["ab"]],
    ["a?c", ["abc"], ["a/c", "ac"]],
    ["a.(b)+", ["a.(b)+"], ["aXbb"]],
  ];
  for (const [glob, yes, no] of cases) {
    const re = globToRegExp(glob);
    for (const p of yes) assert.ok(re.test(p), `${glob} matches ${p}`);
    for (const p of no) assert.ok(!re.test(p), `${glob} does not match ${p}`);
  }
});
