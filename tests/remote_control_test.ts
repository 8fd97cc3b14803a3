/**
 * Remote control, unit level: where a remote gateway's token may come from (never a URL or an
 * argument), what the client commands need from Deno, how `start` drops it, and the ssh command
 * line `gatehouse tunnel` builds. The real tunnel is in ssh_tunnel_test.ts.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parse, UsageError } from "../src/cli/command.ts";
import { SshTunnel } from "../src/cli/ssh_tunnel.ts";
import { remoteToken, resolveTarget } from "../src/cli/target.ts";
import { tunnel } from "../src/cli/tunnel.ts";
import { loadConfig } from "../src/config/mod.ts";
import { clientNeeds, gatewayNeeds, sshOnPath, toFlags } from "../src/permissions/mod.ts";

async function withHome(fn: (home: string) => Promise<void>): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "gatehouse-remote-" });
  try {
    await fn(home);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("a token in the URL is refused with the reason and the fix", async (t) => {
  await withHome(async (home) => {
    const env = (n: string) => (n === "GATEHOUSE_HOME" ? home : undefined);
    for (
      const url of [
        "ws://127.0.0.1:18789/ws?token=s3cret",
        "ws://operator:s3cret@127.0.0.1:18789/ws",
        "ws://s3cret@127.0.0.1:18789/ws",
        "http://127.0.0.1:18789/#token=s3cret",
      ]
    ) {
      await t.step(url.replace("s3cret", "…"), async () => {
        await assert.rejects(
          resolveTarget({ url }, env),
          (err: Error) => {
            assert.match(err.message, /--url must not carry credentials/);
            assert.match(err.message, /show up in ps/);
            assert.match(err.message, /use --token-file or GATEHOUSE_TOKEN/);
            assert.doesNotMatch(err.message, /s3cret/, "the error does not repeat the secret");
            return true;
          },
        );
      });
    }
  });
});

Deno.test("a --token argument is refused by every command, the tunnel included", async () => {
  for (const args of [["--token", "s3cret"], ["--token=s3cret"]]) {
    assert.throws(() => parse(args, {}), (err: Error) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /--token is not accepted: .*visible to other users in `ps`/);
      assert.match(err.message, /--token-file FILE or the GATEHOUSE_TOKEN environment variable/);
      return true;
    });
    await assert.rejects(
      tunnel.run(["me@vps", ...args], () => undefined),
      /--token is not accepted/,
    );
  }
});

Deno.test("a remote token comes from --token-file, then GATEHOUSE_TOKEN", async (t) => {
  await withHome(async (home) => {
    const file = `${home}/vps.token`;
    await Deno.writeTextFile(file, "from-file\n");
    const env = (n: string) => (n === "GATEHOUSE_TOKEN" ? " from-env " : undefined);
    await t.step("the file wins", async () => {
      assert.equal(await remoteToken({ "token-file": file }, env, { url: "x" }), "from-file");
    });
    await t.step("then the environment, trimmed", async () => {
      assert.equal(await remoteToken({}, env, { url: "x" }), "from-env");
    });
    await t.step("with --url, the local gateway's token file is not used", async () => {
      await Deno.writeTextFile(`${home}/token`, "the-local-token\n");
      const homeEnv = (n: string) =>
        n === "GATEHOUSE_HOME" ? home : n === "GATEHOUSE_TOKEN" ? "remote" : undefined;
      const r = await resolveTarget({ url: "ws://127.0.0.1:28789/ws" }, homeEnv);
      assert.equal(r.token, "remote");
      const local = await resolveTarget({}, (n) => (n === "GATEHOUSE_HOME" ? home : undefined));
      assert.equal(local.token, "the-local-token");
    });
    await t.step("with --url alone, no local config is read (a laptop needs none)", async () => {
      await Deno.writeTextFile(`${home}/config.toml`, "this is [not toml");
      const homeEnv = (n: string) =>
        n === "GATEHOUSE_HOME" ? home : n === "GATEHOUSE_TOKEN" ? "remote" : undefined;
      const r = await resolveTarget({ url: "ws://127.0.0.1:28789" }, homeEnv);
      assert.deepEqual([r.url, r.token, r.loaded], [
        "ws://127.0.0.1:28789/ws",
        "remote",
        undefined,
      ]);
      await assert.rejects(resolveTarget({}, homeEnv), /fix the TOML syntax/);
      await Deno.remove(`${home}/config.toml`);
    });
    await t.step("an empty file is refused with the fix", async () => {
      await Deno.writeTextFile(file, "\n");
      await assert.rejects(
        remoteToken({ "token-file": file }, env, { url: "x" }),
        /cannot read --token-file .*vps\.token: token file .* is empty/,
      );
    });
  });
});

Deno.test("the client commands need loopback on any port and the ssh found on PATH", async (t) => {
  await withHome(async (home) => {
    const bin = `${home}/bin`;
    await Deno.mkdir(`${home}/real`, { recursive: true });
    await Deno.mkdir(bin);
    await Deno.writeTextFile(`${home}/real/ssh-9`, "#!/bin/true\n", { mode: 0o755 });
    await Deno.symlink(`${home}/real/ssh-9`, `${bin}/ssh`);
    const loaded = (toml: string) => {
      Deno.writeTextFileSync(`${home}/config.toml`, toml);
      return loadConfig({ env: (n) => (n === "GATEHOUSE_HOME" ? home : undefined) });
    };

    await t.step("ssh is granted by the name PATH finds it under, as Deno checks it", () => {
      assert.equal(sshOnPath(`relative:${bin}:/nonexistent`), `${bin}/ssh`);
      assert.equal(sshOnPath("/nonexistent"), undefined);
    });

    await t.step("with web_fetch restricted: 127.0.0.1 and ssh, for the CLI", async () => {
      const gateway = gatewayNeeds(await loaded(`[tools]\ndeny = ["web_fetch"]\n`));
      assert.deepEqual(clientNeeds(gateway, { pathEnv: bin }), [
        { kind: "net", value: "127.0.0.1", for: "cli:remote" },
        { kind: "run", value: `${bin}/ssh`, for: "cli:tunnel" },
      ]);
    });

    await t.step("a bare --allow-net (web_fetch to any host) already covers loopback", async () => {
      const gateway = gatewayNeeds(await loaded(""));
      assert.deepEqual(clientNeeds(gateway, { pathEnv: "/nonexistent" }), []);
    });
  });
});

Deno.test("start drops the client grants before serving, keeping the gateway's own", async () => {
  await withHome(async (home) => {
    const ssh = sshOnPath(Deno.env.get("PATH"));
    // Another program the gateway may run (exec's allowlist): its grant must stay.
    const other = Deno.execPath();
    await Deno.writeTextFile(`${home}/config.toml`, `[tools]\ndeny = ["web_fetch"]\n`);
    const root = fileURLToPath(new URL("../", import.meta.url));
    const script = `${home}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { loadConfig } from "${root}src/config/mod.ts";
import { dropClientGrants } from "${root}src/permissions/mod.ts";
const loaded = await loadConfig({ env: (n) => Deno.env.get(n) });
const q = (d: Deno.PermissionDescriptor) => Deno.permissions.querySync(d).state;
const before = [q({ name: "net", host: "127.0.0.1:40001" }), q({ name: "run", command: "ssh" })];
dropClientGrants(loaded);
console.log(JSON.stringify({
  before,
  after: [q({ name: "net", host: "127.0.0.1:40001" }), q({ name: "run", command: "ssh" })],
  own: q({ name: "net", host: "127.0.0.1:18789" }),
  other: q({ name: "run", command: ${JSON.stringify(other)} }),
}));
`,
    );
    const flags = toFlags([
      ...gatewayNeeds(
        await loadConfig({ env: (n) => (n === "GATEHOUSE_HOME" ? home : undefined) }),
      ),
      { kind: "net", value: "127.0.0.1", for: "cli:remote" },
      ...(ssh ? [{ kind: "run" as const, value: ssh, for: "cli:tunnel" }] : []),
      { kind: "run", value: other, for: "tool:exec" },
    ]);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--config", `${root}deno.json`, ...flags, script],
      cwd: root,
      env: { GATEHOUSE_HOME: home, NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(text);
    assert.deepEqual(r.before, ["granted", ssh ? "granted" : "prompt"]);
    assert.deepEqual(r.after, ["prompt", "prompt"], "loopback's other ports and ssh are gone");
    assert.equal(r.own, "granted", "the gateway's own port stays");
    assert.equal(r.other, "granted", "other programs' grants stay");
  });
});

Deno.test("the tunnel's ssh command puts the caller's arguments first and the host last", () => {
  assert.deepEqual(
    SshTunnel.args({
      destination: "me@vps",
      localPort: 40123,
      remotePort: 18790,
      sshArgs: ["-p", "2222", "-o", "ServerAliveInterval=5"],
    }),
    [
      "-p",
      "2222",
      "-o",
      "ServerAliveInterval=5",
      "-N",
      "-o",
      "ExitOnForwardFailure=yes",
      "-o",
      "ServerAliveInterval=30",
      "-L",
      "127.0.0.1:40123:127.0.0.1:18790",
      "me@vps",
    ],
  );
});

Deno.test("the tunnel refuses a missing destination, two of them, and a bad port", async () => {
  const env = () => undefined;
  await assert.rejects(tunnel.run([], env), /which host\? gatehouse tunnel USER@HOST/);
  await assert.rejects(tunnel.run(["a@b", "c@d"], env), /ssh arguments go after --/);
  await assert.rejects(tunnel.run(["--remote-port", "http", "a@b"], env), /--remote-port "http"/);
});
