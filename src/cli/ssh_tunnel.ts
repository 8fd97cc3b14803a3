/**
 * An `ssh -N -L` forward from a local port to a gateway's port on another host, as a child
 * process: started, waited on until the gateway answers through it, and stopped.
 *
 * ssh runs in this terminal's process group, so it can ask for a key's passphrase or to confirm a
 * host key as plain ssh does (it opens /dev/tty itself). The price: Ctrl-C at the terminal reaches
 * ssh too and ends the tunnel.
 */
import { SSH_PROGRAM, TUNNEL_HOST } from "../permissions/mod.ts";
import { ClientError } from "./client_error.ts";

/** Options of {@linkcode SshTunnel.open}. */
export interface SshTunnelOptions {
  /** `user@host` (or a Host from ~/.ssh/config). */
  destination: string;
  /** The local port to listen on (on 127.0.0.1). */
  localPort: number;
  /** The gateway's port on the remote host's loopback. @default 18789 */
  remotePort?: number;
  /** Extra ssh arguments (`-p 2222`, `-i key`, `-o Name=value`); they come first, so they win. */
  sshArgs?: string[];
  /** The program to start. @default "ssh", looked up on PATH */
  program?: string;
}

/** How much of ssh's stderr is kept for error messages. */
const STDERR_TAIL = 4096;

/** A running `ssh -N -L` forward. */
export class SshTunnel implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #stderr = "";
  #status?: Deno.CommandStatus;
  /** Resolves when ssh exits, for whatever reason. */
  readonly exited: Promise<Deno.CommandStatus>;

  private constructor(
    child: Deno.ChildProcess,
    readonly destination: string,
    readonly localPort: number,
    readonly remotePort: number,
  ) {
    this.#child = child;
    const pump = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        this.#stderr = (this.#stderr + decoder.decode(chunk, { stream: true })).slice(
          -STDERR_TAIL,
        );
      }
    })().catch(() => {});
    this.exited = Promise.all([child.status, pump]).then(([status]) => (this.#status = status));
  }

  /**
   * The ssh arguments for a forward: the caller's first (ssh keeps the first value it sees for an
   * option), then ours. With `-N` ssh opens no session, so no environment variable (such as
   * GATEHOUSE_TOKEN) is ever sent to the remote host.
   */
  static args(options: SshTunnelOptions): string[] {
    const remote = options.remotePort ?? 18789;
    return [
      ...(options.sshArgs ?? []),
      "-N",
      "-o",
      "ExitOnForwardFailure=yes",
      // A dead network ends the tunnel (and the chat) within ~90 s instead of hanging it.
      "-o",
      "ServerAliveInterval=30",
      "-L",
      `${TUNNEL_HOST}:${options.localPort}:${TUNNEL_HOST}:${remote}`,
      options.destination,
    ];
  }

  /** Starts ssh. Throws a ClientError when ssh cannot be started (missing, or not granted). */
  static open(options: SshTunnelOptions): SshTunnel {
    const program = options.program ?? SSH_PROGRAM;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args: SshTunnel.args(options),
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new ClientError(
          "UNAVAILABLE",
          `${program} not found on PATH: install the OpenSSH client (Debian: apt-get install openssh-client)`,
        );
      }
      if (err instanceof Deno.errors.NotCapable) {
        throw new ClientError(
          "UNAVAILABLE",
          `this process may not start ${program}: run it under the flags \`gatehouse permissions\` ` +
            `prints (it grants the ${program} it finds on PATH)`,
        );
      }
      throw err;
    }
    return new SshTunnel(
      child,
      options.destination,
      options.localPort,
      options.remotePort ?? 18789,
    );
  }

  /** ssh's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** The gateway's WebSocket through the forward. */
  get wsUrl(): string {
    return `ws://${TUNNEL_HOST}:${this.localPort}/ws`;
  }

  /** How ssh ended, once it has. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** The end of what ssh wrote to stderr, trimmed. */
  get stderr(): string {
    return this.#stderr.trim();
  }

  /** "ssh exited with code 255: Host key verification failed." and the like. */
  describeExit(): string {
    const s = this.#status;
    const how = !s
      ? "ssh is still running"
      : s.signal
      ? `ssh was stopped by ${s.signal}`
      : `ssh exited with code ${s.code}`;
    const said = this.stderr.split("\n").filter((l) => l.trim()).slice(-5).join("\n  ");
    return said ? `${how}:\n  ${said}` : how;
  }

  /**
   * Waits until the gateway's `/readyz` answers 200 through the forward. Throws a ClientError
   * that says what went wrong when ssh exits first or `timeoutMs` passes (ssh is then stopped).
   */
  async ready(options: { timeoutMs: number }): Promise<void> {
    const deadline = Date.now() + options.timeoutMs;
    let answered = false;
    let lastProblem = "ssh did not open the local port";
    while (Date.now() < deadline) {
      if (this.#status) {
        throw new ClientError(
          "UNAVAILABLE",
          `the tunnel to ${this.destination} did not come up: ${this.describeExit()}`,
        );
      }
      try {
        const res = await fetch(`http://${TUNNEL_HOST}:${this.localPort}/readyz`, {
          signal: AbortSignal.timeout(Math.max(1, Math.min(3_000, deadline - Date.now()))),
        });
        await res.body?.cancel();
        answered = true;
        if (res.status === 200) return;
        lastProblem = `the gateway answered /readyz with ${res.status}`;
      } catch (err) {
        // Refused: ssh is not listening yet. Reset or closed: ssh listens, but nothing answers on
        // the remote port (ssh's stderr says "open failed").
        const e = err as Error;
        lastProblem = e.cause instanceof Error ? e.cause.message : e.message;
      }
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 100))]);
    }
    await this.close();
    const where = `${this.destination}'s ${TUNNEL_HOST}:${this.remotePort}`;
    const seconds = options.timeoutMs / 1000;
    const said = [...new Set(this.stderr.split("\n").map((l) => l.trim()).filter(Boolean))];
    const sshSaid = said.length ? ` (ssh: ${said.slice(-2).join("; ")})` : "";
    // ssh listens, but the remote side refuses: nothing on that port there.
    if (said.some((l) => l.includes("open failed"))) {
      throw new ClientError(
        "UNAVAILABLE",
        `nothing answers on ${where} within ${seconds} s: is the gateway running there, and is ` +
          `--remote-port right?${sshSaid}`,
      );
    }
    throw new ClientError(
      "TIMEOUT",
      answered
        ? `the gateway on ${where} was not ready within ${seconds} s (${lastProblem})`
        : `the tunnel to ${this.destination} was not up within ${seconds} s (${lastProblem})${sshSaid}`,
    );
  }

  /** Stops ssh (SIGTERM, then SIGKILL after 2 s) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.#status) return;
    this.killSync();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(r, 2_000, false))),
    ]);
    clearTimeout(timer);
    if (!exited) this.killSync("SIGKILL");
    await this.exited;
  }

  /** Signals ssh without waiting: for exit paths that cannot wait (`unload`, `Deno.exit`). */
  killSync(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#status) return;
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
