/** Tool policy: profiles, allow/deny with groups, modes, overrides, runtime-disabled tools, origins. */
import assert from "node:assert/strict";
import { z } from "zod";
import { parseConfig } from "../src/config/mod.ts";
import { silentLogger, systemClock } from "../src/kernel/mod.ts";
import {
  ApprovalBroker,
  BUILTIN_TOOLS,
  originOf,
  ToolPolicy,
  ToolRegistry,
  ToolRunner,
} from "../src/tools/mod.ts";

const policy = (toml: string, disabled = new Map<string, string>()) =>
  new ToolPolicy(parseConfig(toml, "/x/config.toml").config.tools, [...BUILTIN_TOOLS], disabled);
const modes = (p: ToolPolicy, origin = {}) =>
  Object.fromEntries(p.all(origin).map((d) => [d.name, d.enabled ? d.mode : "off"]));

Deno.test("the default coding profile: files and web allowed, exec asks", () => {
  assert.deepEqual(modes(policy("")), {
    time_now: "allow",
    session_status: "allow",
    read: "allow",
    write: "allow",
    edit: "allow",
    list: "allow",
    exec: "ask",
    web_fetch: "allow",
    message: "off",
    cron: "allow",
  });
  const exec = policy("").decide("exec", {})!;
  assert.deepEqual(exec.why, ["profile coding includes group:runtime", "exec asks by default"]);
});

Deno.test("profiles choose groups; allow adds, deny removes and wins", () => {
  const minimal = modes(policy('[tools]\nprofile = "minimal"\n'));
  assert.equal(minimal.time_now, "allow");
  assert.equal(minimal.read, "off");
  assert.equal(minimal.web_fetch, "off");
  const p = policy(
    '[tools]\nprofile = "minimal"\nallow = ["group:fs", "web_fetch"]\ndeny = ["write"]\n',
  );
  const m = modes(p);
  assert.deepEqual([m.read, m.list, m.write, m.web_fetch, m.exec], [
    "allow",
    "allow",
    "off",
    "allow",
    "off",
  ]);
  assert.deepEqual(p.decide("write", {})!.why, [
    "profile minimal leaves out group:fs",
    "tools.allow",
    "tools.deny",
  ]);
  assert.equal(modes(policy('[tools]\nallow = ["exec"]\ndeny = ["exec"]\n')).exec, "off");
});

Deno.test("modes set allow, ask or deny per tool", () => {
  const m = modes(policy('[tools.modes]\nexec = "allow"\nwrite = "ask"\nweb_fetch = "deny"\n'));
  assert.deepEqual([m.exec, m.write, m.web_fetch], ["allow", "ask", "off"]);
});

Deno.test("overrides apply to their channel and sender only, after the global rules", () => {
  const p = policy(`
[[tools.overrides]]
channel = "telegram"
deny = ["group:runtime", "group:web"]
modes = { write = "ask" }
[[tools.overrides]]
channel = "telegram"
sender = "42"
allow = ["web_fetch"]
`);
  assert.deepEqual(
    [modes(p).exec, modes(p).web_fetch, modes(p).write],
    ["ask", "allow", "allow"],
    "the operator is not affected",
  );
  const stranger = modes(p, { channel: "telegram", sender: "7" });
  assert.deepEqual([stranger.exec, stranger.web_fetch, stranger.write], ["off", "off", "ask"]);
  const owner = modes(p, { channel: "telegram", sender: "42" });
  assert.equal(owner.web_fetch, "off", "a deny (earlier override) still wins over a later allow");
});

Deno.test("a global deny is not undone by an override's allow", () => {
  const p = policy(`
[tools]
deny = ["exec"]
[[tools.overrides]]
channel = "cli"
allow = ["exec"]
`);
  assert.equal(modes(p, { channel: "cli" }).exec, "off");
});

Deno.test("a tool the runtime disabled is off whatever the config says, with the reason", () => {
  const reason = "tool exec is disabled: the gateway runs without --allow-run=git";
  const p = policy('[tools.modes]\nexec = "allow"\n', new Map([["exec", reason]]));
  const d = p.decide("exec", {})!;
  assert.equal(d.enabled, false);
  assert.equal(d.mode, "deny");
  assert.equal(d.why.at(-1), reason);
});

Deno.test("origins come from the session key, else from the message source", () => {
  assert.deepEqual(originOf("agent:main:telegram:direct:42"), {
    channel: "telegram",
    sender: "42",
  });
  assert.deepEqual(originOf("agent:main:telegram:group:-100"), { channel: "telegram" });
  assert.deepEqual(originOf("agent:main:main", "telegram:42"), {
    channel: "telegram",
    sender: "42",
  });
  assert.deepEqual(originOf("agent:main:main", "ws:c1-abc"), { channel: "ws" });
  assert.deepEqual(originOf("agent:main:main", "cli"), { channel: "cli" });
  assert.deepEqual(originOf("agent:main:main"), {});
});

Deno.test("tool names and groups in the config are checked", () => {
  assert.throws(
    () => parseConfig('[tools]\nallow = ["group:everything"]\n', "/x/config.toml"),
    /tools\.allow\[0\]: .*group:fs, group:runtime, group:web/,
  );
  assert.throws(
    () => parseConfig('[tools]\ndeny = ["exce"]\n[tools.modes]\nwrte = "ask"\n', "/x/config.toml"),
    (err: Error) =>
      /tools\.deny\[0\]: unknown tool "exce": the tools are time_now, session_status, read/.test(
        err.message,
      ) && /tools\.modes\.wrte: unknown tool "wrte"/.test(err.message),
  );
});

Deno.test("a refused call is told the rule that switched the tool off, not the last one listed", async (t) => {
  await using kv = await Deno.openKv(":memory:");
  const approvals = new ApprovalBroker({
    kv,
    clock: systemClock,
    events: { publish: () => {} },
    logger: silentLogger,
    timeoutMs: 60_000,
  });
  const write = {
    name: "write",
    description: "test double",
    params: z.object({ path: z.string(), content: z.string() }),
    group: "fs" as const,
    run: () => Promise.resolve("wrote"),
  };
  const refusal = async (toml: string, origin = {}) => {
    const runner = new ToolRunner({
      registry: () => Promise.resolve(new ToolRegistry([write])),
      policy: policy(toml),
      approvals,
      approvalTimeoutSeconds: 60,
    });
    const r = await runner.run(
      { id: "c1", name: "write", arguments: '{"path":"a.txt","content":"x"}' },
      {
        sessionKey: "agent:main:main",
        runId: "r1",
        model: "fake/m",
        signal: new AbortController().signal,
      },
      origin,
    );
    assert.equal(r.isError, true);
    return r.content;
  };

  await t.step("a deny list beats a mode set after it", async () => {
    const toml = '[tools]\ndeny = ["write"]\n[tools.modes]\nwrite = "ask"\n';
    assert.equal(policy(toml).decide("write", {})!.reason, "tools.deny");
    assert.match(await refusal(toml), /^write is not allowed in this conversation \(tools\.deny\)/);
  });

  await t.step("an override's deny beats a later override's mode", async () => {
    const toml = `
[[tools.overrides]]
channel = "telegram"
deny = ["write"]
[[tools.overrides]]
channel = "telegram"
modes = { write = "allow" }
`;
    assert.match(
      await refusal(toml, { channel: "telegram", sender: "7" }),
      /\(tools\.overrides\[0\]\.deny\)/,
    );
  });

  await t.step("a deny mode names the rule that set it", async () => {
    const toml =
      '[tools.modes]\nwrite = "deny"\n[[tools.overrides]]\nchannel = "telegram"\nallow = ["write"]\n';
    assert.match(
      await refusal(toml, { channel: "telegram", sender: "7" }),
      /\(tools\.modes\.write = deny\)/,
    );
  });

  await t.step("the runtime's reason comes first", () => {
    const reason = "tool write is disabled: the gateway runs without --allow-write=/ws";
    const p = new ToolPolicy(
      parseConfig('[tools]\ndeny = ["write"]\n', "/x/config.toml").config.tools,
      [...BUILTIN_TOOLS],
      new Map([["write", reason]]),
    );
    assert.equal(p.decide("write", {})!.reason, reason);
  });
});
