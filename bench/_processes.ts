/**
 * The processes of a benchmark: the fake provider and the gateway, each its own process, so the
 * CPU and memory of each can be read apart from this client's.
 */
import { dirname, resolve } from "node:path";
import { GatewayClient } from "../src/cli/client.ts";
import { flagsFor, freePort, ROOT } from "../tests/_helpers/gateway_process.ts";
import { sleep } from "./_stats.ts";
import { onHardStop } from "./_stop.ts";

/** A running fake provider process. */
export interface FakeServer extends AsyncDisposable {
  /** Base URL as a provider's `base_url` takes it: with `/v1` (OpenAI), without (Anthropic). */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Options of {@linkcode startFake}. */
export interface StartFakeOptions {
  /** Which fake: `tests/_servers/openai.ts` or `tests/_servers/anthropic.ts`. @default "openai" */
  kind?: "openai" | "anthropic";
  /** Delay before the first byte of every reply. @default 0 */
  latencyMs?: number;
  /** Share of requests that fail at random, from 0 to 1. @default 0 */
  faultRate?: number;
  /** Faults drawn with equal odds when `faultRate` > 0 (the fake's names). @default the fake's */
  faults?: string[];
  /** Seed of the fault draw, to replay the same faults. @default random */
  seed?: number;
}

/** Starts a fake provider as its own process and waits for its address line. */
export async function startFake(options: StartFakeOptions = {}): Promise<FakeServer> {
  const faultFlags = options.faultRate
    ? [
      "--fault-rate",
      String(options.faultRate),
      ...(options.faults ? ["--faults", options.faults.join(",")] : []),
      ...(options.seed !== undefined ? ["--seed", String(options.seed)] : []),
    ]
    : [];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-net=127.0.0.1",
      `tests/_servers/${options.kind ?? "openai"}.ts`,
      "--port",
      "0",
      "--latency-ms",
      String(options.latencyMs ?? 0),
      ...faultFlags,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("fake provider exited before printing its address");
      line += value;
    }
  } finally {
    clearTimeout(deadline);
  }
  reader.cancel().catch(() => {});
  const { url, port } = JSON.parse(line.slice(0, line.indexOf("\n"))) as {
    url: string;
    port: number;
  };
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
    })();
  const remove = onHardStop(stop);
  return {
    url,
    port,
    pid: child.pid,
    stop: () => {
      remove();
      return stop();
    },
    [Symbol.asyncDispose]: () => {
      remove();
      return stop();
    },
  };
}

/** A provider of a bench config, `[providers.<id>]`. */
export interface BenchProvider {
  /** The `<provider>` of model refs. */
  id: string;
  kind: "openai" | "anthropic";
  /** `base_url`: a fake's {@linkcode FakeServer.url}. */
  url: string;
  /** `timeout_seconds` (wait for the response to start). @default the gateway's default (120) */
  timeoutSeconds?: number;
  /** `idle_timeout_seconds` (silence allowed in a stream). @default the gateway's default (60) */
  idleTimeoutSeconds?: number;
}

/** Options of {@linkcode benchConfig}. */
export interface BenchConfigOptions {
  /**
   * Shorthand for one OpenAI provider `fake` at this base URL with `agent.model = "fake/bench"`.
   * Without it (and without `providers`) no provider and no model are configured.
   */
  fakeUrl?: string;
  /** Providers besides `fakeUrl`'s. @default [] */
  providers?: BenchProvider[];
  /** `agent.model`, `<provider>/<model>`. @default "fake/bench" with `fakeUrl`, else none */
  model?: string;
  /** `agent.fallbacks`. @default [] */
  fallbacks?: string[];
  /** `agent.max_concurrent`. @default the gateway's default (8) */
  maxConcurrent?: number;
  /** `agent.queue.cap`. @default the gateway's default (20) */
  queueCap?: number;
  /** `log.level`. @default "warn" */
  logLevel?: string;
  /** `log.format`. @default "text" */
  logFormat?: string;
  /** `store.path`; `":memory:"` only as a diagnostic (no disk, not durable). @default the file */
  storePath?: string;
}

/**
 * A config for a bench gateway (GatewayProcess adds `[gateway] port`). The store is the default
 * KV file in the home, on the same ext4 disk a real `~/.gatehouse` would be on.
 */
export function benchConfig(o: BenchConfigOptions = {}): string {
  const lines = [`[log]`, `level = "${o.logLevel ?? "warn"}"`];
  if (o.logFormat) lines.push(`format = "${o.logFormat}"`);
  if (o.storePath) lines.push(`[store]`, `path = "${o.storePath}"`);
  const providers: BenchProvider[] = [
    ...(o.fakeUrl ? [{ id: "fake", kind: "openai" as const, url: o.fakeUrl }] : []),
    ...(o.providers ?? []),
  ];
  for (const p of providers) {
    lines.push(`[providers.${p.id}]`, `kind = "${p.kind}"`, `base_url = "${p.url}"`);
    if (p.timeoutSeconds !== undefined) lines.push(`timeout_seconds = ${p.timeoutSeconds}`);
    if (p.idleTimeoutSeconds !== undefined) {
      lines.push(`idle_timeout_seconds = ${p.idleTimeoutSeconds}`);
    }
  }
  lines.push(`[agent]`);
  const model = o.model ?? (o.fakeUrl ? "fake/bench" : undefined);
  if (model) lines.push(`model = "${model}"`);
  if (o.fallbacks?.length) lines.push(`fallbacks = ${JSON.stringify(o.fallbacks)}`);
  if (o.maxConcurrent !== undefined) lines.push(`max_concurrent = ${o.maxConcurrent}`);
  if (o.queueCap !== undefined) lines.push(`[agent.queue]`, `cap = ${o.queueCap}`);
  return lines.join("\n") + "\n";
}

/**
 * How to run `entry`: `main.ts` from the repository root, or another program (a bundle) by its
 * absolute path from its own folder, so nothing of the checkout (deno.json, node_modules) helps.
 */
export function launchOf(entry?: string): { entry: string; cwd: string } {
  if (!entry) return { entry: "main.ts", cwd: ROOT };
  const path = resolve(entry);
  return { entry: path, cwd: dirname(path) };
}

/** Options of {@linkcode startGateway}. */
export interface StartGatewayOptions {
  /** Flags added before `main.ts` (e.g. `--inspect=127.0.0.1:0` for profiling). @default [] */
  extraFlags?: string[];
  /** Gives up waiting for `/readyz` after this long. @default 20_000 */
  readyTimeoutMs?: number;
  /** Extra environment of the gateway process (diagnostics such as `MALLOC_ARENA_MAX`). */
  env?: Record<string, string>;
  /** Keep stdout too, in `logs()` (V8's `--trace-gc` writes there). @default false */
  captureStdout?: boolean;
  /**
   * The program to run instead of `main.ts`, such as the `deno task bundle` output; it runs from
   * its own folder, as `GatewayProcess` runs it. @default "main.ts" in the repository root
   */
  entry?: string;
}

/** A gateway process started by the bench. */
export interface BenchGateway extends AsyncDisposable {
  pid: number;
  home: string;
  port: number;
  wsUrl: string;
  httpUrl: string;
  token: string;
  /** The `deno run` flags it runs under (least privilege, as `gatehouse permissions` prints). */
  flags: string[];
  /** The last 64 KiB of its stderr. */
  logs(): string;
  /** Opens another authenticated client. */
  connect(): Promise<GatewayClient>;
  /**
   * Why the process ended, when it ended before `stop()` (say, a signal from elsewhere on a shared
   * machine); undefined while it runs or after a stop of ours.
   */
  died(): string | undefined;
  /** SIGTERM, then SIGKILL after 10 s; removes the home. */
  stop(): Promise<void>;
}

/**
 * Starts `main.ts start` as a real subprocess the way `GatewayProcess` does (same flags from
 * `flagsFor`, same temp-home layout, config with `[gateway] port` set), but keeps the child so
 * its pid is known before any client connects, and accepts extra flags for profiling.
 */
export async function startGateway(
  config: string,
  options: StartGatewayOptions = {},
): Promise<BenchGateway> {
  const home = await Deno.makeTempDir({ prefix: "gatehouse-bench-" });
  const port = freePort();
  const configPath = `${home}/config.toml`;
  await Deno.writeTextFile(configPath, `[gateway]\nport = ${port}\n${config}`);
  const flags = await flagsFor(configPath, home);
  const { entry, cwd } = launchOf(options.entry);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...flags,
      ...(options.extraFlags ?? []),
      entry,
      "start",
      "--config",
      configPath,
    ],
    cwd,
    env: { GATEHOUSE_HOME: home, NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: options.captureStdout ? "piped" : "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      stderr = (stderr + text).slice(-65_536);
    }
  };
  const pump = Promise.all([
    drain(child.stderr),
    options.captureStdout ? drain(child.stdout) : undefined,
  ]).catch(() => {});
  let exited = false;
  let stopping = false;
  let died: string | undefined;
  const status = child.status.then((s) => {
    exited = true;
    if (!stopping) {
      died = `gateway pid ${child.pid} exited on its own (code ${s.code}` +
        `${s.signal ? `, signal ${s.signal}` : ""}); its last log lines:\n` +
        stderr.split("\n").slice(-10).join("\n");
    }
    return s;
  });
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      stopping = true;
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
        const killer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // already gone
          }
        }, 10_000);
        await status;
        clearTimeout(killer);
      }
      await pump;
      await Deno.remove(home, { recursive: true }).catch(() => {});
    })();
  const remove = onHardStop(stop);

  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
  while (true) {
    if (exited) {
      await stop();
      throw new Error(`gateway exited before ready:\n${stderr}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `gateway not ready within ${options.readyTimeoutMs ?? 20_000} ms:\n${stderr}`,
      );
    }
    if (await readyzOk(httpUrl)) break;
    await sleep(20);
  }
  const token = (await Deno.readTextFile(`${home}/token`)).trim();
  const wsUrl = `ws://127.0.0.1:${port}/ws`;
  return {
    pid: child.pid,
    home,
    port,
    wsUrl,
    httpUrl,
    token,
    flags,
    logs: () => stderr,
    connect: () => GatewayClient.connect(wsUrl, { token, clientId: "bench" }),
    died: () => died,
    stop: () => {
      remove();
      return stop();
    },
    [Symbol.asyncDispose]: () => {
      remove();
      return stop();
    },
  };
}

/** Whether `GET /readyz` answers 200 now (false while nothing listens). */
export async function readyzOk(httpUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${httpUrl}/readyz`);
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Throws with the gateway's exit and last logs if it ended on its own (load errors then say why). */
export function assertAlive(gw: BenchGateway): void {
  const died = gw.died();
  if (died) throw new Error(died);
}
