/**
 * Approvals as an attacker would probe them: a client without `operator.approvals` answering, an
 * answered id replayed, arguments that try to approve themselves; plus allow-always binding the
 * exact call, and no answer being a deny.
 */
import assert from "node:assert/strict";
import type { GatewayClient } from "../../src/cli/client.ts";
import type { ApprovalRequest } from "../../src/kernel/mod.ts";
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
