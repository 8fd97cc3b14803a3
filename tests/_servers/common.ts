/**
 * What the fake provider servers share: the server lifecycle (script queue, recorded requests,
 * latency, shutdown that ends stalls), bodies sent slowly or cut or left hanging, random faults
 * for benchmarks, and the standalone command line.
 */
import { parseArgs } from "node:util";

/**
 * Resolves true after `ms` (never, when `ms` is Infinity), or false as soon as any signal aborts.
 * Leaves no timer or listener behind.
 */
export function sleep(ms: number, signals: AbortSignal[]): Promise<boolean> {
  if (signals.some((s) => s.aborted)) return Promise.resolve(false);
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (completed: boolean) => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener("abort", onAbort);
      resolve(completed);
    };
    const onAbort = () => done(false);
    if (Number.isFinite(ms)) timer = setTimeout(() => done(true), ms);
    for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
  });
}

/** Ends a response body on purpose (cut, stall, shutdown); the server's `onError` keeps it quiet. */
export class DeliberateEnd extends Error {
  override name = "DeliberateEnd";
}

/** How a body ends once its events are sent. */
export type StreamEnd = "end" | "cut" | "stall";

/** Options of {@linkcode openStream}. */
export interface OpenStreamOptions {
  /** `end` closes cleanly, `cut` drops the connection, `stall` sends nothing more until it ends. */
  end: StreamEnd;
  headers: HeadersInit;
  /** Aborted when the server closes: ends pending gaps and stalls. */
  closing: AbortSignal;
  /** Delay between events, in milliseconds. @default 0 */
  gapMs?: number;
  /** Called once when the body is over: sent, cut, cancelled by the client or ended by shutdown. */
  onDone?: () => void;
}

const encoder = new TextEncoder();

/**
 * A response whose body sends `events` (spaced by `gapMs`), then ends as `end` says. A stall lasts
 * until the client disconnects (Deno then cancels the body) or the server closes. No timer or
 * listener outlives the request.
 */
export function openStream(events: string[], options: OpenStreamOptions): Response {
  const { end, closing, gapMs = 0, onDone } = options;
  const gone = new AbortController();
  const signals = [gone.signal, closing];
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      onDone?.();
    }
  };
  const fail = (controller: ReadableStreamDefaultController, reason: string) => {
    finish();
    // Once the client has gone the stream is cancelled and erroring it would throw.
    if (!gone.signal.aborted) controller.error(new DeliberateEnd(reason));
  };
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (i < events.length) {
        if (i > 0 && gapMs > 0 && !(await sleep(gapMs, signals))) {
          return fail(controller, "server closing");
        }
        controller.enqueue(encoder.encode(events[i++]));
        return;
      }
      if (end === "end") {
        finish();
        return controller.close();
      }
      if (end === "cut") return fail(controller, "cut");
      await sleep(Infinity, signals); // the stall
      fail(controller, "server closing");
    },
    cancel: () => {
      gone.abort();
      finish();
    },
  });
  return new Response(stream, { headers: options.headers });
}

/** Splits text into at most `pieces` pieces at spaces (one piece when there is no space). */
export function splitText(text: string, pieces = 3): string[] {
  if (text === "") return [];
  const words = text.split(/(?<= )/);
  if (words.length < pieces) return words;
  const per = Math.ceil(words.length / pieces);
  const out: string[] = [];
  for (let i = 0; i < words.length; i += per) out.push(words.slice(i, i + per).join(""));
  return out;
}

/** Splits a string into `pieces` slices of about equal length (fewer when it is shorter). */
export function splitEvenly(text: string, pieces: number): string[] {
  if (text.length <= 1) return [text];
  const per = Math.ceil(text.length / pieces);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += per) out.push(text.slice(i, i + per));
  return out;
}

/** A rough token count: 4 characters a token, at least 1. */
export function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

/** Options of {@linkcode randomFaults}. */
export interface RandomFaultsOptions<Body, Reply, Fault> {
  /** Share of requests that fail, from 0 to 1. */
  rate: number;
  /** Faults drawn from with equal odds. */
  faults: readonly Fault[];
  /** The reply when no fault is drawn; a drawn fault is added to it, so `stall`/`cut` have text. */
  fallback: (body: Body) => Reply;
  /** Source of numbers in [0, 1). @default Math.random */
  random?: () => number;
}

/** A `defaultReply` that fails a share of requests with faults picked at random (for benchmarks). */
export function randomFaults<Body, Reply extends { fault?: Fault }, Fault extends string>(
  options: RandomFaultsOptions<Body, Reply, Fault>,
): (body: Body) => Reply {
  const { rate, faults, fallback, random = Math.random } = options;
  return (body) => {
    const reply = fallback(body);
    if (faults.length === 0 || random() >= rate) return reply;
    return { ...reply, fault: faults[Math.floor(random() * faults.length)] };
  };
}

/** A small seeded generator (mulberry32), so a benchmark can replay the same faults. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options every fake server takes at start. */
export interface FakeServerOptions<Body, Reply> {
  /** Port on 127.0.0.1; 0 picks a free one. @default 0 */
  port?: number;
  /** Delay before the first byte of every reply (settable later through `latencyMs`). @default 0 */
  latencyMs?: number;
  /** Delay between streamed chunks (settable later through `chunkDelayMs`). @default 0 */
  chunkDelayMs?: number;
  /** The reply when no script is queued. @default an echo of the last user message */
  defaultReply?: (body: Body) => Reply;
  /** How many recent requests `requests` keeps. @default 1000 */
  maxRecorded?: number;
}

/**
 * The lifecycle both fakes share. Subclasses route, parse and answer in `handle`, using `record`,
 * `nextReply`, `pause` and `stream`; the default path builds one string and returns it, so no
 * timer runs per request unless a delay is asked for.
 */
export abstract class FakeServer<Body, Reply extends { delayMs?: number }, Recorded>
  implements AsyncDisposable {
  readonly port: number;
  /** The most recent requests, oldest first (capped at `maxRecorded`). */
  readonly requests: Recorded[] = [];
  /** Requests served since start or `reset()`, uncapped. */
  requestCount = 0;
  /** Delay before the first byte of every reply. */
  latencyMs: number;
  /** Delay between streamed chunks. */
  chunkDelayMs: number;

  #server: Deno.HttpServer<Deno.NetAddr>;
  #queue: Reply[] = [];
  #defaultReply: (body: Body) => Reply;
  #maxRecorded: number;
  /** Aborted by close(): ends pending delays, stalls and slow streams so shutdown never hangs. */
  #closing = new AbortController();
  #closed: Promise<void> | undefined;
  #openStreams = 0;
  #streamWaiters: (() => void)[] = [];

  protected constructor(
    label: string,
    options: FakeServerOptions<Body, Reply>,
    echo: (body: Body) => Reply,
  ) {
    this.latencyMs = options.latencyMs ?? 0;
    this.chunkDelayMs = options.chunkDelayMs ?? 0;
    this.#defaultReply = options.defaultReply ?? echo;
    this.#maxRecorded = options.maxRecorded ?? 1000;
    this.#server = Deno.serve(
      {
        hostname: "127.0.0.1",
        port: options.port ?? 0,
        onListen: () => {},
        onError: (err) => {
          if (!(err instanceof DeliberateEnd)) console.error(`${label}:`, err);
          return new Response(null, { status: 500 });
        },
      },
      (req) => this.handle(req),
    );
    this.port = this.#server.addr.port;
  }

  /** Bodies still being sent slowly, stalled or cut; a client that leaves closes its own. */
  get openStreams(): number {
    return this.#openStreams;
  }

  /** Resolves once no body is open: shows that a client's abort reached the server. */
  streamsClosed(): Promise<void> {
    if (this.#openStreams === 0) return Promise.resolve();
    return new Promise((resolve) => this.#streamWaiters.push(resolve));
  }

  /** Queues replies, consumed one per request in order. */
  script(...replies: Reply[]): void {
    this.#queue.push(...replies);
  }

  /** Forgets queued replies and recorded requests. */
  reset(): void {
    this.#queue.length = 0;
    this.requests.length = 0;
    this.requestCount = 0;
  }

  /** Stops the server, ending stalled and in-flight streams first. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await this.#server.shutdown();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  protected abstract handle(req: Request): Promise<Response>;

  /** Keeps a request (up to `maxRecorded`) and counts it. */
  protected record(entry: Recorded): void {
    this.requests.push(entry);
    if (this.requests.length > this.#maxRecorded) this.requests.shift();
    this.requestCount++;
  }

  /** The next scripted reply, else the default one. */
  protected nextReply(body: Body): Reply {
    return this.#queue.shift() ?? this.#defaultReply(body);
  }

  /** Waits out the reply's delay (or `latencyMs`); false when the server closed meanwhile. */
  protected pause(reply: Reply): Promise<boolean> {
    const delay = reply.delayMs ?? this.latencyMs;
    // Not req.signal: reading it makes Deno warn about its legacy abort-on-success behaviour.
    // A client that leaves during the delay costs one timer, which close() also ends.
    if (delay <= 0) return Promise.resolve(true);
    return sleep(delay, [this.#closing.signal]);
  }

  /** {@linkcode openStream} spaced by `chunkDelayMs`, ended by close(), counted in `openStreams`. */
  protected stream(events: string[], end: StreamEnd, headers: HeadersInit): Response {
    this.#openStreams++;
    return openStream(events, {
      end,
      headers,
      closing: this.#closing.signal,
      gapMs: this.chunkDelayMs,
      onDone: () => {
        if (--this.#openStreams === 0) { for (const w of this.#streamWaiters.splice(0)) w(); }
      },
    });
  }
}

/** The command line of a fake run on its own (`deno run ... tests/_servers/<fake>.ts`). */
export interface StandaloneFlags {
  port: number;
  latencyMs: number;
  chunkDelayMs: number;
  /** Share of requests that fail at random, from 0 to 1. */
  faultRate: number;
  /** Faults drawn from when `faultRate` > 0. */
  faults: string[];
  /** Seed of the fault draw; random when absent. */
  seed: number | undefined;
}

/**
 * Reads `--port N --latency-ms N --chunk-delay-ms N --fault-rate R --faults a,b --seed N`;
 * throws on a fault name not in `known`.
 */
export function parseStandaloneFlags(args: string[], known: readonly string[]): StandaloneFlags {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "0" },
      "latency-ms": { type: "string", default: "0" },
      "chunk-delay-ms": { type: "string", default: "0" },
      "fault-rate": { type: "string", default: "0" },
      faults: { type: "string", default: "rate_limit,server_error" },
      seed: { type: "string" },
    },
  });
  const faults = values.faults.split(",").map((f) => f.trim()).filter(Boolean);
  for (const f of faults) {
    if (!known.includes(f)) {
      throw new Error(`--faults: unknown fault "${f}": use one of ${known.join(", ")}`);
    }
  }
  return {
    port: Number(values.port),
    latencyMs: Number(values["latency-ms"]),
    chunkDelayMs: Number(values["chunk-delay-ms"]),
    faultRate: Number(values["fault-rate"]),
    faults,
    seed: values.seed === undefined ? undefined : Number(values.seed),
  };
}

/** Prints `{"url","port"}` on one line and serves until SIGTERM or SIGINT. */
export function serveUntilSignal(fake: { url: string; port: number; close(): Promise<void> }) {
  console.log(JSON.stringify({ url: fake.url, port: fake.port }));
  const stop = async () => {
    await fake.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
