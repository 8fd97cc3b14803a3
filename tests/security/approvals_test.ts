/**
 * Approvals as an attacker would probe them: a client without `operator.approvals` answering, an
 * answered id replayed, arguments that try to approve themselves; plus allow-always binding the
 * exact call (for a write, its content too), no answer being a deny, and the first answer winning
 * even while an allow-always entry is being stored.
 */
import assert from "node:assert/strict";
import type { GatewayClient } from "../../src/cli/client.ts";
import {
  type ApprovalRequest,
  type ApprovalResolution,
  GatehouseError,
  silentLogger,
} from "../../src/kernel/mod.ts";
import { ApprovalBroker } from "../../src/tools/approvals.ts";
import { FakeOpenAI } from "../_servers/openai.ts";
import { EventLog } from "../_helpers/events.ts";
import { FakeClock } from "../_helpers/fake_clock.ts";
import { startTestGateway } from "../_helpers/in_process.ts";

const S = "agent:main:main";
const EXEC = `[tools.exec]\nprograms = ["echo"]\n`;
type Msg = { role: string; content?: unknown; tool_call_id?: string };

const execCall = (id: string, argv: string[], extra: Record<string, unknown> = {}) => ({
  toolCalls: [{ id, name: "exec", arguments: JSON.stringify({ argv, ...extra }) }],
});

async function send(c: GatewayClient, message: string): Promise<string> {
  return (await c.request<{ runId: string }>("chat.send", {
    sessionKey: S,
    message,
    idempotencyKey: crypto.randomUUID(),
  })).runId;
}

/** Waits for the next approval request the log sees. */
async function nextApproval(log: EventLog, seen = 0): Promise<ApprovalRequest> {
  const requests = () => log.events.filter((e) => e.event === "exec.approval.requested");
  await log.until(() => requests().length > seen);
  return requests()[seen].payload as unknown as ApprovalRequest;
}

/** The tool results the model got in its last request. */
function fedBack(fake: FakeOpenAI): Map<string, string> {
  const msgs = fake.requests.at(-1)!.body.messages as Msg[];
  return new Map(
    msgs.filter((m) => m.role === "tool").map((m) => [m.tool_call_id!, String(m.content)]),
  );
}

Deno.test("a client without operator.approvals neither sees nor answers approvals", async () => {
  await using gw = await startTestGateway({ config: EXEC });
  const operator = await gw.client();
  const reader = await gw.client({ scopes: ["operator.read", "operator.write"] });
  const opLog = new EventLog(operator);
  const readerLog = new EventLog(reader);
  gw.fake.script(execCall("c1", ["echo", "hi"]), { text: "ok" });
  const runId = await send(reader, "run it");
  const request = await nextApproval(opLog);
  await assert.rejects(
    reader.request("exec.approval.resolve", { id: request.id, decision: "allow-once" }),
    (err: Error & { code?: string }) => err.code === "FORBIDDEN",
  );
  await assert.rejects(
    reader.request("exec.approval.list", {}),
    (err: Error & { code?: string }) => err.code === "FORBIDDEN",
  );
  assert.ok(
    !readerLog.events.some((e) => e.event.startsWith("exec.approval")),
    "approval events go only to operator.approvals",
  );
  await operator.request("exec.approval.resolve", { id: request.id, decision: "deny" });
  assert.equal((await opLog.end(runId)).state, "final");
  assert.match(fedBack(gw.fake).get("c1")!, /an operator denied this call: echo hi/);
});

Deno.test("an answered approval id cannot be replayed", async () => {
  await using gw = await startTestGateway({ config: EXEC });
  const c = await gw.client();
  const log = new EventLog(c);
  gw.fake.script(execCall("c1", ["echo", "once"]), { text: "ok" });
  const runId = await send(c, "run it");
  const request = await nextApproval(log);
  await c.request("exec.approval.resolve", { id: request.id, decision: "allow-once" });
  await assert.rejects(
    c.request("exec.approval.resolve", { id: request.id, decision: "allow-always" }),
    (err: Error & { code?: string }) =>
      err.code === "NOT_FOUND" && /already answered, expired or never existed/.test(err.message),
  );
  assert.equal((await log.end(runId)).state, "final");
  assert.match(fedBack(gw.fake).get("c1")!, /once/);
  const resolved = log.events.filter((e) => e.event === "exec.approval.resolved");
  assert.deepEqual(resolved.map((e) => e.payload.decision), ["allow-once"]);
});

Deno.test("tool arguments cannot approve themselves or swap the program", async () => {
  await using gw = await startTestGateway({ config: EXEC });
  const c = await gw.client();
  const log = new EventLog(c);
  gw.fake.script(
    execCall("c1", ["echo", "x"], { approved: true }),
    execCall("c2", ["echo", "x"], { prepared: { program: "/bin/sh", argv: ["sh", "-c", "id"] } }),
    { text: "done" },
  );
  const runId = await send(c, "sneak");
  assert.equal((await log.end(runId)).state, "final");
  const fed = fedBack(gw.fake);
  assert.match(fed.get("c1")!, /invalid arguments for exec/);
  assert.match(fed.get("c2")!, /invalid arguments for exec/);
  assert.ok(!log.events.some((e) => e.event === "exec.approval.requested"), "nothing was asked");
});

Deno.test("allow-always remembers exactly that call; another argv asks again", async () => {
  await using gw = await startTestGateway({ config: EXEC });
  const c = await gw.client();
  const log = new EventLog(c);
  gw.fake.script(execCall("a1", ["echo", "same"]), { text: "one" });
  const first = await send(c, "first");
  const r1 = await nextApproval(log);
  await c.request("exec.approval.resolve", { id: r1.id, decision: "allow-always" });
  assert.equal((await log.end(first)).state, "final");

  gw.fake.script(execCall("a2", ["echo", "same"]), { text: "two" });
  assert.equal((await log.end(await send(c, "second"))).state, "final");
  assert.match(fedBack(gw.fake).get("a2")!, /same/, "ran without asking");

  gw.fake.script(execCall("a3", ["echo", "different"]), { text: "three" });
  const third = await send(c, "third");
  const r3 = await nextApproval(log, 1);
  assert.deepEqual(r3.argv, ["echo", "different"]);
  await c.request("exec.approval.resolve", { id: r3.id, decision: "deny" });
  assert.equal((await log.end(third)).state, "final");
});

Deno.test("no answer within approval_timeout_seconds is a deny", async () => {
  const clock = new FakeClock(Date.now());
  await using fake = await FakeOpenAI.start();
  await using gw = await startTestGateway({
    fake,
    clock,
    config: EXEC + "[tools]\napproval_timeout_seconds = 30\n",
  });
  const c = await gw.client();
  const log = new EventLog(c);
  fake.script(execCall("t1", ["echo", "late"]), { text: "gave up" });
  const runId = await send(c, "wait for me");
  const request = await nextApproval(log);
  assert.equal(request.expiresAt, clock.now() + 30_000);
  await clock.advance(30_000);
  assert.equal((await log.end(runId)).state, "final");
  assert.match(
    fedBack(fake).get("t1")!,
    /no operator approved this call within 30s, so it was denied/,
  );
  const resolved = log.events.find((e) => e.event === "exec.approval.resolved")!;
  assert.equal(resolved.payload.decision, "timeout");
});

Deno.test("the first answer wins at once, even while allow-always is being stored", async (t) => {
  const clock = new FakeClock();
  await using kv = await Deno.openKv(":memory:");
  // Holds allow-always writes until the test lets them through.
  let gate = Promise.withResolvers<void>();
  const release = () => gate.resolve();
  const slowKv = new Proxy(kv, {
    get(target, prop) {
      if (prop !== "set") return Reflect.get(target, prop).bind(target);
      return async (key: Deno.KvKey, value: unknown) => {
        await gate.promise;
        return await target.set(key, value);
      };
    },
  });
  const resolved: ApprovalResolution[] = [];
  const broker = new ApprovalBroker({
    kv: slowKv,
    clock,
    events: {
      publish: (event, payload) => {
        if (event === "exec.approval.resolved") resolved.push(payload as ApprovalResolution);
      },
    },
    logger: silentLogger,
    timeoutMs: 30_000,
  });
  const prepared = {
    summary: "echo hi  (in ./)",
    program: "/usr/bin/echo",
    argv: ["echo", "hi"],
    cwd: "/ws",
  };
  const ask = () =>
    broker.request(
      { sessionKey: S, runId: "r1", tool: "exec", prepared },
      new AbortController().signal,
    );

  await t.step("a second answer while the first is being stored gets NOT_FOUND", async () => {
    const outcome = ask();
    const { id } = broker.pending()[0];
    const first = broker.resolve(id, "allow-always", "ws:a");
    await assert.rejects(
      broker.resolve(id, "deny", "ws:b"),
      (err: GatehouseError) => err.code === "NOT_FOUND",
    );
    release();
    await first;
    assert.equal(await outcome, "allow-always");
    assert.deepEqual(resolved.map((r) => [r.decision, r.by]), [["allow-always", "ws:a"]]);
    assert.ok(await broker.remembered("exec", prepared), "and it is remembered");
  });

  await t.step("the timeout cannot overtake an answer being stored", async () => {
    resolved.length = 0;
    gate = Promise.withResolvers<void>();
    const outcome = ask();
    const { id } = broker.pending()[0];
    const answer = broker.resolve(id, "allow-always", "ws:a");
    await clock.advance(30_000);
    release();
    await answer;
    assert.equal(await outcome, "allow-always");
    assert.deepEqual(resolved.map((r) => r.decision), ["allow-always"]);
    assert.equal(clock.pending, 0, "the timer is gone");
  });
});

Deno.test("allow-always for a write covers that content only; other content asks again", async () => {
  await using gw = await startTestGateway({ config: '[tools.modes]\nwrite = "ask"\n' });
  const c = await gw.client();
  const log = new EventLog(c);
  const write = (id: string, content: string) => ({
    toolCalls: [{ id, name: "write", arguments: JSON.stringify({ path: "n.txt", content }) }],
  });
  gw.fake.script(write("w1", "first"), { text: "one" });
  const first = await send(c, "write it");
  const r1 = await nextApproval(log);
  await c.request("exec.approval.resolve", { id: r1.id, decision: "allow-always" });
  assert.equal((await log.end(first)).state, "final");

  gw.fake.script(write("w2", "first"), { text: "two" });
  assert.equal((await log.end(await send(c, "again"))).state, "final");
  assert.match(fedBack(gw.fake).get("w2")!, /wrote 5 bytes/, "the same write ran without asking");

  gw.fake.script(write("w3", "other content"), { text: "three" });
  const third = await send(c, "now other content");
  const asked = () => log.events.filter((e) => e.event === "exec.approval.requested").length;
  await log.until((l) => asked() > 1 || l.chat(third).some((p) => p.state === "final"));
  assert.equal(asked(), 2, "the write with other content asked again");
  const r3 = await nextApproval(log, 1);
  await c.request("exec.approval.resolve", { id: r3.id, decision: "deny" });
  assert.equal((await log.end(third)).state, "final");
  assert.match(fedBack(gw.fake).get("w3")!, /an operator denied this call/);
  assert.equal(await Deno.readTextFile(`${gw.home}/workspace/n.txt`), "first");
  assert.match(r1.digest ?? "", /^[0-9a-f]{64}$/, "a request binds a digest of the arguments");
  assert.notEqual(r3.digest, r1.digest);
});
