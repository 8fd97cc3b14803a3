/**
 * Runs one resolved program for `exec`: a cleared environment, no stdin, output read as it comes
 * and kept up to a cap (the rest is drained and counted, so a chatty child never blocks on a full
 * pipe), and a time limit and an abort signal that kill it.
 *
 * Killing, as Deno 2.9.6 allows it: `ChildProcess.kill` signals the child alone and needs no
 * permission beyond the spawn. Signalling a process group (`Deno.kill(-pid)`, and node's
 * `process.kill`) needs `--allow-run` for every program; `--allow-run=<list>` is refused with
 * `NotCapable`. So only when run access is granted in full is the child started as a group leader
 * (`detached: true`) and the whole group killed; under the gateway's usual
 * `--allow-run=<allowlisted programs>` the child is killed and processes it started in the
 * background survive it (they are told apart in the result).
 */
import { type Clock, systemClock } from "../../kernel/mod.ts";

/** Options of {@linkcode runProgram}. */
export interface RunProgramOptions {
  /** The program's real path. */
  program: string;
  /** Arguments after argv[0]. */
  args: string[];
  /** The real working directory. */
  cwd: string;
  /** The child's whole environment. */
  env: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** Characters of stdout and stderr kept together, in the order they arrive. */
  maxOutputChars: number;
  signal: AbortSignal;
  /** @default systemClock */
  clock?: Clock;
  /** Time between SIGTERM and SIGKILL. @default 2000 */
  killGraceMs?: number;
  /** How long output is still read after the program exits (a background child may hold it). @default 500 */
  drainMs?: number;
}

/** One output stream as kept. */
export interface CapturedStream {
  text: string;
  /** Characters read past the cap and dropped. */
  cut: number;
}

/** What happened. */
export interface ProgramResult {
  status: Deno.CommandStatus;
  /** `timeout` and `aborted` mean it was killed by us. */
  ended: "exited" | "timeout" | "aborted";
  /** Whether a kill reached the whole process group (see the module comment). */
  groupKill: boolean;
  stdout: CapturedStream;
  stderr: CapturedStream;
  /** The program exited but its output stayed open (a background process); reading stopped. */
  outputLeftOpen: boolean;
}

/** Starts the program and waits for it; throws only when it cannot be started. */
export async function runProgram(options: RunProgramOptions): Promise<ProgramResult> {
  const clock = options.clock ?? systemClock;
  const killGraceMs = options.killGraceMs ?? 2000;
  const drainMs = options.drainMs ?? 500;
  const groupKill = canKillGroups();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.program, {
      args: options.args,
      cwd: options.cwd,
      clearEnv: true,
      env: { ...options.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // A group leader, so that the group can be signalled; only useful when we may signal it.
      detached: groupKill,
    }).spawn();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(
      err instanceof Deno.errors.NotCapable
        ? `could not start ${options.program}: ${message}; the gateway was not granted --allow-run for it: start it with the flags \`gatehouse permissions\` prints`
        : `could not start ${options.program}: ${message}`,
    );
  }

  const capture = new OutputCapture(options.maxOutputChars);
  const readers = [child.stdout.getReader(), child.stderr.getReader()];
  const pumps = Promise.all([
    pump(readers[0], (text) => capture.add("stdout", text)),
    pump(readers[1], (text) => capture.add("stderr", text)),
  ]);

  const signalAll = (signal: Deno.Signal) => {
    if (groupKill) {
      try {
        Deno.kill(-child.pid, signal);
        return;
      } catch {
        // The group is empty or gone: fall through to the child itself.
      }
    }
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
  };
  let ended: ProgramResult["ended"] = "exited";
  let graceTimer: ReturnType<Clock["setTimeout"]> | undefined;
  const stop = (why: "timeout" | "aborted") => {
    if (ended !== "exited") return;
    ended = why;
    signalAll("SIGTERM");
    graceTimer = clock.setTimeout(() => signalAll("SIGKILL"), killGraceMs);
  };
  const limitTimer = clock.setTimeout(() => stop("timeout"), options.timeoutMs);
  const onAbort = () => stop("aborted");
  options.signal.addEventListener("abort", onAbort, { once: true });
  if (options.signal.aborted) onAbort();

  let status: Deno.CommandStatus;
  try {
    status = await child.status;
  } finally {
    clock.clearTimeout(limitTimer);
    options.signal.removeEventListener("abort", onAbort);
    if (graceTimer !== undefined) clock.clearTimeout(graceTimer);
  }
  // The leader is gone; members that outlived SIGTERM go now.
  if (ended !== "exited" && groupKill) signalAll("SIGKILL");

  let drainTimer: ReturnType<Clock["setTimeout"]> | undefined;
  const drained = await Promise.race([
    pumps.then(() => true),
    new Promise<false>((resolve) => drainTimer = clock.setTimeout(() => resolve(false), drainMs)),
  ]);
  clock.clearTimeout(drainTimer!);
  if (!drained) {
    await Promise.all(readers.map((r) => r.cancel().catch(() => {})));
    await pumps;
  }
  return {
    status,
    ended,
    groupKill,
    stdout: capture.stream("stdout"),
    stderr: capture.stream("stderr"),
    outputLeftOpen: !drained,
  };
}

/** Whether this process may signal process groups: only with run access to every program. */
function canKillGroups(): boolean {
  if (Deno.build.os === "windows") return false;
  return Deno.permissions.querySync({ name: "run" }).state === "granted";
}

/** Reads a stream to its end (or until cancelled), decoding UTF-8 as it goes. */
async function pump(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  sink: (text: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      sink(decoder.decode(value, { stream: true }));
    }
  } catch {
    // A broken pipe ends the output like an EOF.
  }
  sink(decoder.decode());
}

/** stdout and stderr under one character budget; past it, text is only counted. */
class OutputCapture {
  #left: number;
  #parts = { stdout: [] as string[], stderr: [] as string[] };
  #cut = { stdout: 0, stderr: 0 };

  constructor(maxChars: number) {
    this.#left = maxChars;
  }

  add(stream: "stdout" | "stderr", text: string): void {
    if (text === "") return;
    const kept = text.slice(0, this.#left);
    if (kept) this.#parts[stream].push(kept);
    this.#left -= kept.length;
    this.#cut[stream] += text.length - kept.length;
  }

  stream(stream: "stdout" | "stderr"): CapturedStream {
    return { text: this.#parts[stream].join(""), cut: this.#cut[stream] };
  }
}
