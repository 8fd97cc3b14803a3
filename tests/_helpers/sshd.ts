/**
 * A real OpenSSH server (Debian's `sshd`) on a high loopback port, for tests of SSH tunnels:
 * generated host and user keys, the user's key authorised, a known_hosts pinned to the host key,
 * no passwords, no PAM, local forwarding only, run as the current user in a temp dir.
 */
import { delimiter, isAbsolute, join } from "node:path";
import { freePort } from "./gateway_process.ts";

/** The first executable `name` in PATH or in `extra` folders (sshd lives in /usr/sbin). */
function findProgram(name: string, extra: string[] = []): string | undefined {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(delimiter), ...extra];
  for (const dir of dirs.filter((d) => isAbsolute(d))) {
    try {
      const info = Deno.statSync(join(dir, name));
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The OpenSSH programs, or why tests that need them must be skipped. */
export function openSsh():
  | { sshd: string; ssh: string; keygen: string; missing?: undefined }
  | { missing: string } {
  if (Deno.build.os !== "linux") {
    return {
      missing: `the sshd e2e setup is written for Linux (Debian's OpenSSH), not ${Deno.build.os}`,
    };
  }
  const sshd = findProgram("sshd", ["/usr/sbin", "/usr/local/sbin", "/sbin"]);
  const ssh = findProgram("ssh");
  const keygen = findProgram("ssh-keygen");
  const absent = [!sshd && "sshd", !ssh && "ssh", !keygen && "ssh-keygen"].filter(Boolean);
  if (!sshd || !ssh || !keygen) {
    return {
      missing: `OpenSSH is not installed (no ${absent.join(", ")}): ` +
        "apt-get install openssh-server openssh-client (.ci/run does)",
    };
  }
  return { sshd, ssh, keygen };
}

async function run(program: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(program, { args, stdin: "null" }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(
      `${program} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

/** A running sshd; `await using sshd = await Sshd.start()`. */
export class Sshd implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #log = "";
  #done: Promise<Deno.CommandStatus>;

  private constructor(
    child: Deno.ChildProcess,
    readonly dir: string,
    readonly port: number,
    readonly user: string,
  ) {
    this.#child = child;
    const pump = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) this.#log += decoder.decode(chunk);
    })();
    this.#done = Promise.all([child.status, pump]).then(([s]) => s);
  }

  /**
   * Generates the keys and config in a temp dir and starts `sshd -D -e` on a free port; resolves
   * once it listens. `permitOpen` limits forwards to those `host:port` targets.
   */
  static async start(options: { permitOpen?: string[] } = {}): Promise<Sshd> {
    const programs = openSsh();
    if (programs.missing !== undefined) throw new Error(programs.missing);
    const dir = await Deno.makeTempDir({ prefix: "gatehouse-sshd-" });
    const port = freePort();
    const user = await run("id", ["-un"]);
    for (const [file, comment] of [["host_key", "host"], ["user_key", "user"]]) {
      await run(programs.keygen, [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        comment,
        "-f",
        `${dir}/${file}`,
      ]);
    }
    await Deno.copyFile(`${dir}/user_key.pub`, `${dir}/authorized_keys`);
    const hostKey = (await Deno.readTextFile(`${dir}/host_key.pub`)).trim();
    await Deno.writeTextFile(`${dir}/known_hosts`, `[127.0.0.1]:${port} ${hostKey}\n`);
    await Deno.writeTextFile(`${dir}/empty_known_hosts`, "");
    await Deno.writeTextFile(
      `${dir}/sshd_config`,
      [
        "ListenAddress 127.0.0.1",
        `Port ${port}`,
        `HostKey ${dir}/host_key`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        `PidFile ${dir}/sshd.pid`,
        `AllowUsers ${user}`,
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        // The temp dir's modes are not what StrictModes wants for a home.
        "StrictModes no",
        "AllowTcpForwarding local",
        ...(options.permitOpen ? [`PermitOpen ${options.permitOpen.join(" ")}`] : []),
        "AllowAgentForwarding no",
        "X11Forwarding no",
        "PermitTTY no",
        "",
      ].join("\n"),
    );
    // Run as root, sshd wants its privilege-separation folder; a package install makes it at boot.
    if (Deno.uid() === 0) await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const child = new Deno.Command(programs.sshd, {
      args: ["-D", "-e", "-f", `${dir}/sshd_config`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const sshd = new Sshd(child, dir, port, user);
    const deadline = Date.now() + 10_000;
    while (!sshd.#log.includes("Server listening")) {
      const exited = await Promise.race([sshd.#done, new Promise((r) => setTimeout(r, 25))]);
      if (exited || Date.now() > deadline) {
        await sshd[Symbol.asyncDispose]();
        throw new Error(`sshd did not start:\n${sshd.#log}`);
      }
    }
    return sshd;
  }

  /** `user@127.0.0.1` */
  get destination(): string {
    return `${this.user}@127.0.0.1`;
  }

  /** The user's private key. */
  get userKey(): string {
    return `${this.dir}/user_key`;
  }

  /** A known_hosts file that pins this server's host key. */
  get knownHosts(): string {
    return `${this.dir}/known_hosts`;
  }

  /** sshd's log so far. */
  get log(): string {
    return this.#log;
  }

  /**
   * ssh client arguments for this server: its port and key, the pinned known_hosts (strict), no
   * user config, agent or prompts. `knownHosts` swaps the known_hosts file.
   */
  clientArgs(options: { knownHosts?: string } = {}): string[] {
    return [
      "-F",
      "/dev/null",
      "-p",
      String(this.port),
      "-i",
      this.userKey,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "IdentityAgent=none",
      "-o",
      `UserKnownHostsFile=${options.knownHosts ?? this.knownHosts}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
    ];
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await this.#done;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
