/**
 * Tools end to end: the gateway as a real process under the flags `gatehouse permissions` computes,
 * a scripted model (the fake OpenAI server returning tool calls) editing a file, running an
 * allowlisted program after an approval given over the WebSocket, and fetching a page from an
 * explicitly allowlisted loopback server; the same gateway without `--allow-run`; and a program
 * and a workspace reached through symlinks, which the computed grants must cover by real path.
 */
import assert from "node:assert/strict";
import { GatewayClient } from "../src/cli/client.ts";
import type { ApprovalRequest } from "../src/kernel/mod.ts";
import { findOnPath } from "../src/tools/exec/mod.ts";
import { FakeOpenAI } from "./_servers/openai.ts";
import { GatewayProcess } from "./_helpers/gateway_process.ts";

type Msg = { role: string; content?: unknown; tool_call_id?: string };

function config(fake: FakeOpenAI, pagePort: number): string {
  return `[providers.fake]
kind = "openai"
base_url = "${fake.url}"
[agent]
model = "fake/e2e-model"
[tools.exec]
programs = ["echo"]
[tools.web_fetch]
private_hosts = ["127.0.0.1:${pagePort}"]
`;
}

function pageServer() {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      new Response(
        "<html><head><title>Loopback page</title></head><body><p>served for the e2e test</p></body></html>",
        { headers: { "content-type": "text/html; charset=utf-8" } },
      ),
  );
  return { port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
}

Deno.test("a scripted conversation edits a file, runs an approved program and fetches a page", async () => {
  await using fake = await FakeOpenAI.start();
  await using page = pageServer();
  await using gp = await GatewayProcess.start({ config: config(fake, page.port) });
  assert.ok(gp.flags.some((f) => f.startsWith("--allow-run=")), gp.flags.join(" "));

  fake.script(
    {
      toolCalls: [{
        id: "w",
        name: "write",
        arguments: '{"path":"notes/todo.txt","content":"hello"}',
      }],
    },
    {
      toolCalls: [{
        id: "e",
        name: "edit",
        arguments: '{"path":"notes/todo.txt","old":"hello","new":"hello world"}',
      }],
    },
    { toolCalls: [{ id: "x", name: "exec", arguments: '{"argv":["echo","approved run"]}' }] },
    {
      toolCalls: [{
        id: "f",
        name: "web_fetch",
        arguments: JSON.stringify({ url: `http://127.0.0.1:${page.port}/` }),
      }],
    },
    { text: "all done" },
  );

  const c = await GatewayClient.connect(gp.wsUrl, { token: await gp.token() });
  try {
    const approvals: ApprovalRequest[] = [];
    let final: Record<string, unknown> | undefined;
    const ended = new Promise<void>((resolve) => {
      c.onEvent((e) => {
        if (e.event === "exec.approval.requested") {
          const request = e.payload as unknown as ApprovalRequest;
          approvals.push(request);
          c.request("exec.approval.resolve", { id: request.id, decision: "allow-once" });
        }
        if (e.event === "chat" && ["final", "error", "aborted"].includes(String(e.payload.state))) {
          final = e.payload;
          resolve();
        }
      });
    });
    await c.request("chat.send", {
      sessionKey: "agent:main:main",
      message: "tidy up my notes",
      idempotencyKey: crypto.randomUUID(),
    });
    await ended;
    assert.equal(final?.state, "final", JSON.stringify(final));
    assert.equal((final?.message as { text: string }).text, "all done");

    assert.equal(await Deno.readTextFile(`${gp.home}/workspace/notes/todo.txt`), "hello world");
    assert.equal(approvals.length, 1, "only exec asked");
    assert.equal(approvals[0].tool, "exec");
    assert.deepEqual(approvals[0].argv, ["echo", "approved run"]);
    assert.match(approvals[0].program ?? "", /\/echo$/);
    assert.equal(approvals[0].cwd, await Deno.realPath(`${gp.home}/workspace`));

    const fed = (fake.requests.at(-1)!.body.messages as Msg[]).filter((m) => m.role === "tool");
    const byId = new Map(fed.map((m) => [m.tool_call_id, String(m.content)]));
    assert.match(byId.get("w")!, /wrote 5 bytes/);
    assert.match(byId.get("x")!, /approved run/);
    assert.match(byId.get("f")!, /Loopback page/);
    assert.match(byId.get("f")!, /served for the e2e test/);
  } finally {
    await c.close();
  }
});

Deno.test("without --allow-run exec is disabled, doctor says so, and the gateway runs on", async () => {
  await using fake = await FakeOpenAI.start();
  await using page = pageServer();
  await using gp = await GatewayProcess.start({
    config: config(fake, page.port),
    flags: (computed) => computed.filter((f) => !f.startsWith("--allow-run")),
  });
  const doctor = await gp.cli(["doctor"]);
  assert.match(
    doctor.stdout,
    /^warn\s+tool exec\s+off: --allow-run=\S*\/echo not granted; the gateway runs it only with/m,
  );
  assert.match(doctor.stdout, /^ok\s+tool read\s+allow; runs with --allow-read=/m);
  assert.match(doctor.stdout, /^ok\s+tool message\s+off: no channel is configured/m);
  const tools = await gp.cli(["tools"]);
  assert.equal(tools.code, 0, tools.stderr);
  assert.match(
    tools.stdout,
    /^exec\s+runtime\s+off\s+.*the gateway runs without --allow-run=\S*\/echo/m,
  );
  assert.match(tools.stdout, /^read\s+fs\s+allow/m);
  const reply = await gp.cli(["send", "still there?"]);
  assert.equal(reply.code, 0, reply.stderr);
  assert.equal(reply.stdout.trim(), "echo: still there?");
  assert.deepEqual(
    (fake.requests.at(-1)!.body.tools as { function: { name: string } }[])
      .map((t) => t.function.name),
    ["time_now", "session_status", "read", "write", "edit", "list", "web_fetch", "cron"],
    "exec is not offered to the model",
  );
});

Deno.test("the terminal chat asks inline and the answer reaches the gateway", async () => {
  await using fake = await FakeOpenAI.start();
  await using page = pageServer();
  await using gp = await GatewayProcess.start({ config: config(fake, page.port) });
  fake.script(
    { toolCalls: [{ id: "x", name: "exec", arguments: '{"argv":["echo","from the chat"]}' }] },
    { text: "ran it" },
  );
  const r = await gp.cli(["chat"], { stdin: "please run it\ny\n/quit\n" });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\[approval needed\] exec: echo 'from the chat' {2}\(in \.\/\)/);
  assert.match(r.stdout, /allow\? y = once, a = always, n = deny: \[allow-once\]\nran it\n/);
  const fed = (fake.requests.at(-1)!.body.messages as Msg[]).find((m) => m.tool_call_id === "x");
  assert.match(String(fed?.content), /from the chat/);
});

Deno.test("a program and a workspace reached through symlinks work under the computed flags", async () => {
  await using fake = await FakeOpenAI.start();
  const outside = await Deno.realPath(await Deno.makeTempDir({ prefix: "gatehouse-e2e-link-" }));
  try {
    const echo = findOnPath("echo", Deno.env.get("PATH") ?? "/usr/bin:/bin");
    assert.ok(echo, "echo must be on PATH");
    await Deno.mkdir(`${outside}/bin`);
    await Deno.symlink(echo, `${outside}/bin/say`);
    await Deno.mkdir(`${outside}/real_ws`);
    await Deno.symlink(`${outside}/real_ws`, `${outside}/ws_link`);
    await using gp = await GatewayProcess.start({
      config: `[providers.fake]
kind = "openai"
base_url = "${fake.url}"
[agent]
model = "fake/e2e-model"
[tools]
workspace = "${outside}/ws_link"
[tools.modes]
exec = "allow"
[tools.exec]
programs = ["${outside}/bin/say"]
`,
    });
    fake.script(
      { toolCalls: [{ id: "x", name: "exec", arguments: '{"argv":["say","through a link"]}' }] },
      { toolCalls: [{ id: "w", name: "write", arguments: '{"path":"a.txt","content":"kept"}' }] },
      { text: "done" },
    );
    const reply = await gp.cli(["send", "go"]);
    assert.equal(reply.code, 0, reply.stderr);
    const fed = (fake.requests.at(-1)!.body.messages as Msg[]).filter((m) => m.role === "tool");
    const byId = new Map(fed.map((m) => [m.tool_call_id, String(m.content)]));
    assert.match(byId.get("x")!, /^exit code 0\n--- stdout ---\nthrough a link/, byId.get("x"));
    assert.match(byId.get("w")!, /wrote 4 bytes/, byId.get("w"));
    assert.equal(await Deno.readTextFile(`${outside}/real_ws/a.txt`), "kept");
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});
