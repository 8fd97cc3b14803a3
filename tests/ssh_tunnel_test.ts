/**
 * Remote control through an SSH tunnel, with real OpenSSH on loopback: an `sshd` with generated
 * keys, the gateway as a real process, and the CLI as a "laptop" process under the flags
 * `gatehouse permissions` computes for its own (separate) home. `send`, `chat`, `sessions` and
 * `status` go through a forward opened with `ssh -N -L`; `gatehouse tunnel` opens its own.
 */
import assert from "node:assert/strict";
import { delimiter, isAbsolute, join } from "node:path";
import { FakeOpenAI } from "./_servers/openai.ts";
import { flagsFor, freePort, GatewayProcess, ROOT } from "./_helpers/gateway_process.ts";
import { openSsh, Sshd } from "./_helpers/sshd.ts";

const ssh = openSsh();

/** Output of a finished CLI process. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** A "laptop": its own Gatehouse home and config, and the CLI under that config's flags. */
async function laptop(): Promise<
  AsyncDisposable & {
    home: string;
    flags: string[];
    cli(args: string[], options?: { stdin?: string; env?: Record<string, string> }): Promise<Ran>;
  }
> {
  const home = await Deno.makeTempDir({ prefix: "gatehouse-laptop-" });
  // web_fetch off, so net is not the bare --allow-net: loopback on any port is the client grant.
  await Deno.writeTextFile(`${home}/config.toml`, `[tools]\ndeny = ["web_fetch"]\n`);
  const flags = await flagsFor(`${home}/config.toml`, home);
  return {
    home,
    flags,
    async cli(args, options = {}) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags, "main.ts", ...args],
        cwd: ROOT,
        env: { GATEHOUSE_HOME: home, NO_COLOR: "1", ...options.env },
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
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(home, { recursive: true }).catch(() => {});
    },
  };
}

/** Pids of live ssh clients whose command line mentions `marker` (the sshd's temp dir). */
async function sshClients(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const argv = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).split("\0");
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state !== "Z" && argv[0].endsWith("ssh") && argv.some((a) => a.includes(marker))) {
        pids.push(Number(entry.name));
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Waits until the gateway's /readyz answers 200 on a local port (through a forward). */
async function readyThrough(port: number, sshStatus: Promise<unknown>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      await res.body?.cancel();
      if (res.status === 200) return;
    } catch {
      // not forwarding yet
    }
    if (await Promise.race([sshStatus.then(() => true), new Promise((r) => setTimeout(r, 50))])) {
      throw new Error("ssh exited before the forward was up");
    }
  }
  throw new Error(`no gateway through 127.0.0.1:${port} within 10 s`);
}

function findOnPath(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(delimiter).filter((d) => isAbsolute(d))) {
    try {
      if (Deno.statSync(join(dir, name)).isFile) return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

Deno.test({
  name: ssh.missing === undefined
    ? "send, chat, sessions and status work through ssh -N -L, and gatehouse tunnel opens and closes its own"
    : `SSH tunnel e2e SKIPPED: ${ssh.missing}`,
  ignore: ssh.missing !== undefined,
  async fn(t) {
    if (ssh.missing !== undefined) return;
    await using fake = await FakeOpenAI.start();
    await using gp = await GatewayProcess.start({
      config: `[providers.fake]\nkind = "openai"\nbase_url = "${fake.url}"\n` +
        `api_key_env = "FAKE_KEY"\n[agent]\nmodel = "fake/e2e-model"\n`,
      env: { FAKE_KEY: "k" },
    });
    await using sshd = await Sshd.start({ permitOpen: [`127.0.0.1:${gp.port}`] });
    await using pc = await laptop();
    // The remote gateway's token, copied to the laptop as a file (its home is what it may read).
    const tokenFile = `${pc.home}/vps.token`;
    await Deno.writeTextFile(tokenFile, `${await gp.token()}\n`, { mode: 0o600 });

    await t.step("the laptop's computed flags carry the client grants, and no -A", () => {
      const net = pc.flags.find((f) => f.startsWith("--allow-net="))!;
      assert.ok(net.split("=")[1].split(",").includes("127.0.0.1"), net);
      assert.ok(pc.flags.includes(`--allow-run=${ssh.ssh}`), pc.flags.join(" "));
      assert.ok(!pc.flags.includes("-A") && !pc.flags.includes("--allow-all"));
    });

    await t.step("through ssh -N -L: send, chat, sessions and status", async () => {
      const local = freePort();
      const forward = new Deno.Command(ssh.ssh, {
        args: [
          ...sshd.clientArgs(),
          "-N",
          "-o",
          "ExitOnForwardFailure=yes",
          "-L",
          `${local}:127.0.0.1:${gp.port}`,
          sshd.destination,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(forward.stderr).text();
      try {
        await readyThrough(local, forward.status);
        const url = `ws://127.0.0.1:${local}/ws`;

        const sent = await pc.cli(["send", "--url", url, "--token-file", tokenFile, "hello, vps"]);
        assert.equal(sent.code, 0, sent.stderr);
        assert.equal(sent.stdout.trim(), "echo: hello, vps");

        const token = await gp.token();
        const chat = await pc.cli(["chat", "--url", url], {
          stdin: "one exchange\n/quit\n",
          env: { GATEHOUSE_TOKEN: token },
        });
        assert.equal(chat.code, 0, chat.stderr);
        assert.match(chat.stdout, /connected to gatehouse/);
        assert.match(chat.stdout, /agent> echo: one exchange\n/);

        const sessions = await pc.cli(["sessions", "--url", url], {
          env: { GATEHOUSE_TOKEN: token },
        });
        assert.equal(sessions.code, 0, sessions.stderr);
        assert.match(sessions.stdout, /agent:main:main/);
        const status = await pc.cli(["status", "--json", "--url", url, "--token-file", tokenFile]);
        assert.equal(status.code, 0, status.stderr);
        assert.equal(JSON.parse(status.stdout).model, "fake/e2e-model");

        const outside = `${sshd.dir}/vps.token`;
        await Deno.copyFile(tokenFile, outside);
        const notGranted = await pc.cli(["sessions", "--url", url, "--token-file", outside]);
        assert.equal(notGranted.code, 1);
        assert.match(
          notGranted.stderr,
          /cannot read --token-file \S+: this process may not read it: keep the file in the Gatehouse home \(\S+\), set GATEHOUSE_TOKEN, or leave both out on a terminal to be asked/,
        );

        const noToken = await pc.cli(["sessions", "--url", url]);
        assert.equal(noToken.code, 1);
        assert.match(
          noToken.stderr,
          /no token for ws:\/\/127\.0\.0\.1:\d+\/ws: pass --token-file FILE, set GATEHOUSE_TOKEN, or run in a terminal/,
        );
        assert.equal(fake.requestCount, 2, "one turn for send, one for chat");
        assert.match(sshd.log, /Accepted publickey for \S+ from 127\.0\.0\.1/);
      } finally {
        forward.kill("SIGTERM");
        await forward.status;
        await stderr;
      }
    });

    const tunnelArgs = (extra: string[] = []) => [
      "tunnel",
      sshd.destination,
      "--remote-port",
      String(gp.port),
      "--token-file",
      tokenFile,
      ...extra,
      "--",
      ...sshd.clientArgs(),
    ];

    await t.step(
      "gatehouse tunnel opens the forward, chats through it, and closes it",
      async () => {
        const r = await pc.cli(tunnelArgs(), { stdin: "through the tunnel\n/quit\n" });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /agent> echo: through the tunnel\n/);
        const up = r.stderr.match(/tunnel to \S+ up on 127\.0\.0\.1:(\d+) \(ssh pid (\d+)\)/);
        assert.ok(up, r.stderr);
        assert.notEqual(Number(up[1]), gp.port, "a local port of its own");
        assert.deepEqual(await sshClients(sshd.dir), [], "no ssh left behind");
        assert.equal(fake.requests.length, 3);
      },
    );

    await t.step("a failing ssh is reported in its own words, and nothing is left", async () => {
      const bad = tunnelArgs();
      bad[bad.indexOf(`UserKnownHostsFile=${sshd.knownHosts}`)] =
        `UserKnownHostsFile=${sshd.dir}/empty_known_hosts`;
      const r = await pc.cli(bad, { stdin: "never sent\n" });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /the tunnel to \S+ did not come up: ssh exited with code 255:/);
      assert.match(r.stderr, /Host key verification failed/);
      assert.deepEqual(await sshClients(sshd.dir), []);
    });

    await t.step("no token and no terminal: refused before any ssh starts", async () => {
      const args = tunnelArgs().filter((a) => a !== "--token-file" && a !== tokenFile);
      const logged = sshd.log.length;
      const r = await pc.cli(args);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /pass --token-file FILE, set GATEHOUSE_TOKEN, or run in a terminal/);
      assert.equal(sshd.log.slice(logged), "", "sshd saw no connection");
    });

    const script = findOnPath("script");
    await t.step({
      name: script
        ? "on a terminal the token is asked for without echo"
        : "token prompt SKIPPED: no `script` (util-linux) to give the CLI a terminal",
      ignore: !script,
      async fn() {
        const token = await gp.token();
        const args = tunnelArgs().filter((a) => a !== "--token-file" && a !== tokenFile);
        const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
        const command = `exec ${
          [Deno.execPath(), "run", ...pc.flags, "main.ts", ...args].map(quote).join(" ")
        }`;
        // script gives the CLI a pseudo-terminal; what is written to its stdin is "typed".
        const child = new Deno.Command(script!, {
          args: ["-q", "-e", "-f", "-c", command, "/dev/null"],
          cwd: ROOT,
          env: { GATEHOUSE_HOME: pc.home, NO_COLOR: "1", GATEHOUSE_TOKEN: "" },
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const writer = child.stdin.getWriter();
        const type = (s: string) => writer.write(new TextEncoder().encode(s));
        let seen = "";
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        const waitFor = async (re: RegExp) => {
          const deadline = Date.now() + 20_000;
          while (!re.test(seen)) {
            if (Date.now() > deadline) throw new Error(`no ${re} in:\n${seen}`);
            const { value, done } = await reader.read();
            if (done) throw new Error(`ended before ${re}:\n${seen}`);
            seen += value;
          }
        };
        try {
          await waitFor(/gateway token for the gateway on \S+ \(port \d+\) \(not shown\): /);
          await type(`${token}\r`);
          await waitFor(/you> /);
          await type("typed on a terminal\r");
          await waitFor(/agent> echo: typed on a terminal/);
          await type("/quit\r");
          for (let r = await reader.read(); !r.done; r = await reader.read()) seen += r.value;
        } finally {
          await writer.close().catch(() => {});
          const status = await child.status;
          await child.stderr.cancel();
          assert.equal(status.code, 0, seen);
        }
        assert.ok(!seen.includes(token), "the token is not echoed");
        assert.deepEqual(await sshClients(sshd.dir), []);
      },
    });
  },
});
