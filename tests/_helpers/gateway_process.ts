/**
 * The gateway as a real subprocess under the least-privilege flags that `gatehouse permissions`
 * computes for the test config, and the CLI run the same way.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config/mod.ts";
import { binaryNeeds, toFlags } from "../../src/permissions/mod.ts";

/** The repository root (where main.ts is). */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The flags the gateway gets for a config, exactly as `gatehouse permissions` prints them. */
export async function flagsFor(configPath: string, home: string): Promise<string[]> {
  const env = (n: string) => (n === "GATEHOUSE_HOME" ? home : Deno.env.get(n));
  return toFlags(
    binaryNeeds(await loadConfig({ path: configPath, env }), { pathEnv: Deno.env.get("PATH") }),
  );
}

/** A started gateway process. */
export class GatewayProcess implements AsyncDisposable {
  #child?: Deno.ChildProcess;
  #stderr = "";
  #done?: Promise<Deno.CommandStatus>;
  readonly flags: string[];

  private constructor(
    readonly home: string,
    readonly configPath: string,
    readonly port: number,
    flags: string[],
    readonly env: Record<string, string>,
    readonly launch: { entry: string; cwd: string },
  ) {
    this.flags = flags;
  }

  /** Writes the config (with `[gateway] port` set) into a fresh home and starts the gateway. */
  static async start(
    options: {
      config?: string;
      env?: Record<string, string>;
      home?: string;
      /** Changes the computed flags (to test what happens without a grant). */
      flags?: (computed: string[]) => string[];
      /**
       * The program to run instead of `main.ts`, such as a `deno bundle` output. It runs from its
       * own folder, so nothing of the checkout (deno.json, node_modules) is in reach.
       * @default "main.ts" in the repository root
       */
      entry?: string;
    } = {},
  ): Promise<GatewayProcess> {
    const home = options.home ?? await Deno.makeTempDir({ prefix: "gatehouse-e2e-" });
    const port = freePort();
    const configPath = `${home}/config.toml`;
    await Deno.writeTextFile(
      configPath,
      `${options.config ?? ""}\n`.replace(/^/, `[gateway]\nport = ${port}\n`),
    );
    const env = { GATEHOUSE_HOME: home, NO_COLOR: "1", ...options.env };
    const computed = await flagsFor(configPath, home);
    const flags = options.flags ? options.flags(computed) : computed;
    const launch = options.entry
      ? { entry: resolve(options.entry), cwd: dirname(resolve(options.entry)) }
      : { entry: "main.ts", cwd: ROOT };
    const gp = new GatewayProcess(home, configPath, port, flags, env, launch);
    await gp.spawn();
    return gp;
  }

  /** `ws://127.0.0.1:PORT/ws` */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** `http://127.0.0.1:PORT` */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Everything the gateway wrote to stderr so far. */
  get logs(): string {
    return this.#stderr;
  }

  /** The gateway's token. */
  async token(): Promise<string> {
    return (await Deno.readTextFile(`${this.home}/token`)).trim();
  }

  /** Starts the process and waits for `/readyz`. */
  async spawn(): Promise<void> {
    this.#stderr = "";
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...this.flags, this.launch.entry, "start", "--config", this.configPath],
      cwd: this.launch.cwd,
      env: this.env,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const child = this.#child;
    const pump = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of child.stderr) this.#stderr += dec.decode(chunk);
    })();
    this.#done = Promise.all([child.status, pump]).then(([s]) => s);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const exited = await Promise.race([this.#done, new Promise((r) => setTimeout(r, 50, null))]);
      if (exited) throw new Error(`gateway exited before ready:\n${this.#stderr}`);
      try {
        const res = await fetch(`${this.httpUrl}/readyz`);
        await res.body?.cancel();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
    }
    throw new Error(`gateway not ready within 20 s:\n${this.#stderr}`);
  }

  /** Sends a signal and waits for the exit. */
  async kill(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    if (!this.#child || !this.#done) throw new Error("not started");
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
    const status = await this.#done;
    this.#child = undefined;
    return status;
  }

  /** Runs `gatehouse <args>` as its own process under the same flags, against this home. */
  async cli(
    args: string[],
    options: { stdin?: string; env?: Record<string, string> } = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...this.flags, this.launch.entry, ...args],
      cwd: this.launch.cwd,
      env: { ...this.env, ...options.env },
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (options.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(options.stdin));
      await w.close();
    }
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#child) await this.kill("SIGKILL");
    await Deno.remove(this.home, { recursive: true }).catch(() => {});
  }
}
