/**
 * Where the gateway's idle RSS comes from, step by step in one fresh process: RSS and V8 heap after
 * a full GC at the start, then after each import or open that the gateway does at start-up, in
 * that order (later steps include the earlier ones). Run by `idle_rss.ts`:
 * `deno run -A --v8-flags=--expose-gc bench/_rss_probe.ts` prints one JSON line of
 * `[step, rssBytes, heapUsedBytes]`.
 */
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function reading(step: string): Promise<[string, number, number]> {
  gc();
  await new Promise((r) => setTimeout(r, 100));
  gc();
  const m = Deno.memoryUsage();
  return [step, m.rss, m.heapUsed];
}

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) yield* walk(new URL(`${e.name}/`, dir));
    else if (e.name.endsWith(".ts")) yield new URL(e.name, dir);
  }
}

const out: [string, number, number][] = [await reading("deno runtime, empty program")];
await import("zod");
out.push(await reading("+ zod"));
await import("hono");
out.push(await reading("+ hono"));
await import("smol-toml");
out.push(await reading("+ smol-toml"));
// The node: built-ins src/ imports now (they pull in parts of Deno's Node compatibility layer).
const builtins = new Set<string>();
for await (const file of walk(new URL("../src/", import.meta.url))) {
  for (const m of (await Deno.readTextFile(file)).matchAll(/from "(node:[a-z_/]+)"/g)) {
    builtins.add(m[1]);
  }
}
if (builtins.size) {
  await Promise.all([...builtins].map((b) => import(b)));
  out.push(await reading(`+ ${[...builtins].sort().join(", ")} (imported by src/)`));
}
await import("../src/cli/mod.ts");
out.push(await reading("+ the rest of the gateway's modules (src/, via the CLI)"));
const dir = await Deno.makeTempDir({ prefix: "gatehouse-bench-probe-" });
const kv = await Deno.openKv(`${dir}/probe.kv.sqlite`);
await kv.get(["s", "x"]);
out.push(await reading("+ Deno.openKv on a file, one read"));
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  () => new Response("ok"),
);
out.push(await reading("+ Deno.serve listening"));
await import("openai");
out.push(await reading("(not at idle) + openai SDK, loaded at the first turn"));
await server.shutdown();
kv.close();
await Deno.remove(dir, { recursive: true });
console.log(JSON.stringify(out));
