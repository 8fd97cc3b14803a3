import assert from "node:assert/strict";
import { ClientError } from "../src/cli/client.ts";
import { startTestGateway } from "./_helpers/in_process.ts";
import { connectFrame, RawSocket } from "./_helpers/raw_socket.ts";

const errOf = (frame: Record<string, unknown>) => frame.error as { code: string; message: string };

Deno.test("http: healthz and readyz answer, other paths are JSON 404s", async () => {
  await using gw = await startTestGateway();
  const base = `http://127.0.0.1:${gw.gateway.port}`;
  for (
    const [path, status] of [["/healthz", 200], ["/readyz", 200], ["/nope", 404], [
      "/ws",
      426,
    ]] as const
  ) {
    const res = await fetch(base + path);
    assert.equal(res.status, status, path);
    const body = await res.json();
    if (status >= 400) assert.match(body.error, /\S/);
  }
});

Deno.test("handshake: challenge first, then hello-ok with methods, scopes and policy", async () => {
  await using gw = await startTestGateway();
  await using s = new RawSocket(gw.wsUrl);
  const challenge = await s.next();
  assert.equal(challenge.event, "connect.challenge");
  const cp = challenge.payload as { nonce: string; ts: number };
  assert.ok(cp.nonce.length >= 16 && cp.ts > 0);
  s.send(connectFrame(gw.token));
  const res = await s.next();
  assert.equal(res.ok, true, JSON.stringify(res));
  const hello = res.payload as {
    type: string;
    protocol: number;
    features: { methods: string[]; events: string[] };
    auth: { scopes: string[] };
    policy: { maxPayload: number };
  };
  assert.equal(hello.type, "hello-ok");
  assert.equal(hello.protocol, 4);
  assert.ok(hello.features.methods.includes("chat.send"));
  assert.ok(hello.features.events.includes("chat"));
  assert.deepEqual(hello.auth.scopes.sort(), [
    "operator.admin",
    "operator.approvals",
    "operator.pairing",
    "operator.read",
    "operator.write",
  ]);
  assert.equal(hello.policy.maxPayload, 1_048_576);
});

Deno.test("bad frames get errors that name the problem", async (t) => {
  await using gw = await startTestGateway();
  const c = await gw.client();

  await t.step("malformed JSON keeps the connection open", async () => {
    await using s = new RawSocket(gw.wsUrl);
    await s.next();
    s.send(connectFrame(gw.token));
    await s.next();
    s.send("{not json");
    const res = await s.next();
    assert.equal(res.ok, false);
    assert.equal(errOf(res).code, "INVALID_REQUEST");
    assert.match(errOf(res).message, /not valid JSON/);
    s.send({ type: "req", id: 2, method: "health" });
    assert.equal((await s.next()).ok, true);
  });

  await t.step("unknown method", async () => {
    await assert.rejects(c.request("nope.nope"), (e: ClientError) => {
      assert.equal(e.code, "UNKNOWN_METHOD");
      assert.match(e.message, /nope\.nope/);
      return true;
    });
  });

  await t.step("chat.send without idempotencyKey", async () => {
    await assert.rejects(
      c.request("chat.send", { sessionKey: "agent:main:main", message: "hi" }),
      (e: ClientError) => {
        assert.equal(e.code, "INVALID_REQUEST");
        assert.match(e.message, /params\.idempotencyKey/);
        return true;
      },
    );
    assert.equal(gw.fake.requestCount, 0);
  });

  await t.step("a malformed session key", async () => {
    await assert.rejects(
      c.request("chat.send", { sessionKey: "Main Session", message: "hi", idempotencyKey: "k" }),
      (e: ClientError) => e.code === "INVALID_REQUEST" && /session key/.test(e.message),
    );
  });

  await t.step("history of an unknown session", async () => {
    await assert.rejects(
      c.request("chat.history", { sessionKey: "agent:main:x:direct:nobody" }),
      (e: ClientError) => e.code === "NOT_FOUND" && /sessions\.list/.test(e.message),
    );
  });

  await t.step("an oversize frame is refused and the socket closed", async () => {
    await using s = new RawSocket(gw.wsUrl);
    await s.next();
    s.send(connectFrame(gw.token));
    await s.next();
    s.send({ type: "req", id: 3, method: "health", params: { pad: "x".repeat(1_100_000) } });
    const res = await s.next();
    assert.equal(errOf(res).code, "PAYLOAD_TOO_LARGE");
    assert.match(errOf(res).message, /max_payload_bytes/);
    assert.equal((await s.closed).code, 1009);
  });

  await t.step("before connect the limit is 64 KiB", async () => {
    await using s = new RawSocket(gw.wsUrl);
    await s.next();
    s.send(connectFrame(gw.token, { pad: "x".repeat(70_000) }));
    assert.equal(errOf(await s.next()).code, "PAYLOAD_TOO_LARGE");
    assert.equal((await s.closed).code, 1009);
  });

  await t.step("a frame before connect closes the socket", async () => {
    await using s = new RawSocket(gw.wsUrl);
    await s.next();
    s.send({ type: "req", id: 1, method: "health" });
    const res = await s.next();
    assert.equal(errOf(res).code, "AUTH_REQUIRED");
    assert.match(errOf(res).message, /first frame must be req connect/);
    assert.equal((await s.closed).code, 1008);
  });

  await t.step("a client that narrowed its scopes cannot write", async () => {
    const reader = await gw.client({ scopes: ["operator.read"] });
    await reader.request("sessions.list");
    await assert.rejects(
      reader.request("chat.send", {
        sessionKey: "agent:main:main",
        message: "hi",
        idempotencyKey: "s1",
      }),
      (e: ClientError) => e.code === "FORBIDDEN" && /operator\.write/.test(e.message),
    );
  });

  await t.step("connect twice", async () => {
    await assert.rejects(
      c.request("connect", {}),
      (e: ClientError) => e.code === "INVALID_REQUEST",
    );
  });

  await t.step("a protocol the gateway does not speak", async () => {
    await using s = new RawSocket(gw.wsUrl);
    await s.next();
    s.send(connectFrame(gw.token, { minProtocol: 1, maxProtocol: 3 }));
    const res = await s.next();
    assert.equal(errOf(res).code, "PROTOCOL_MISMATCH");
    assert.equal((await s.closed).code, 1008);
  });
});

Deno.test("wrong token is refused, then the source is locked out", async () => {
  await using gw = await startTestGateway({
    config: "[gateway.auth.rate_limit]\nmax_attempts = 3\nlockout_seconds = 60\n",
  });
  const attempt = async (token: string | undefined) => {
    await using s = new RawSocket(gw.wsUrl);
    await s.next();
    s.send(connectFrame(token));
    const res = await s.next();
    await s.closed;
    return res.error as { code: string; message: string; retryAfterMs?: number } | undefined;
  };
  const first = await attempt("wrong");
  assert.equal(first?.code, "AUTH_FAILED");
  assert.match(first!.message, /gatehouse token/);
  assert.equal((await attempt(undefined))?.code, "AUTH_REQUIRED");
  const third = await attempt("wrong");
  assert.equal(third?.code, "LOCKED_OUT");
  assert.ok(third!.retryAfterMs! > 50_000);
  const withRightToken = await attempt(gw.token);
  assert.equal(withRightToken?.code, "LOCKED_OUT", "the lockout holds even for the right token");
});

Deno.test("browser origins: the gateway's own is allowed, others are refused before upgrade", async () => {
  await using gw = await startTestGateway({
    config: `[gateway]\nallowed_origins = ["https://ops.example.com"]\n`,
  });
  const port = gw.gateway.port;
  await using evil = new RawSocket(gw.wsUrl, { origin: "http://evil.example" });
  await assert.rejects(evil.opened, /403/);
  for (
    const origin of [
      `http://127.0.0.1:${port}`,
      `http://localhost:${port}`,
      "https://ops.example.com",
    ]
  ) {
    await using ok = new RawSocket(gw.wsUrl, { origin });
    await ok.opened;
    assert.equal((await ok.next()).event, "connect.challenge");
  }
  const res = await fetch(`http://127.0.0.1:${port}/ws`, {
    headers: { upgrade: "websocket", origin: "http://evil.example" },
  });
  assert.equal(res.status, 403);
  assert.match((await res.json()).error, /gateway\.allowed_origins/);
});

Deno.test("a lost token file is reported, not fatal", async () => {
  await using gw = await startTestGateway();
  await Deno.remove(`${gw.home}/token`);
  await using s = new RawSocket(gw.wsUrl);
  await s.next();
  s.send(connectFrame(gw.token));
  const err = errOf(await s.next());
  assert.equal(err.code, "UNAVAILABLE");
  assert.match(err.message, /gatehouse token --rotate/);
  const res = await fetch(`http://127.0.0.1:${gw.gateway.port}/healthz`);
  assert.equal(res.status, 200, "the gateway is still up");
  await res.body?.cancel();
});

Deno.test("declared scopes are granted exactly, never widened", async () => {
  await using gw = await startTestGateway();
  const none = await gw.client({ scopes: [] });
  assert.deepEqual((none.hello.auth as { scopes: string[] }).scopes, []);
  await assert.rejects(none.request("health"), (e: ClientError) => e.code === "FORBIDDEN");
  const reader = await gw.client({ scopes: ["operator.read", "operator.read"] });
  assert.deepEqual((reader.hello.auth as { scopes: string[] }).scopes, ["operator.read"]);
});

Deno.test("status names the channels and the gateway's recent warnings and errors", async () => {
  const { RecentProblems } = await import("../src/gateway/recent_problems.ts");
  const lines: string[] = [];
  const base = {
    debug: () => {},
    info: (m: string) => lines.push(`info ${m}`),
    warn: (m: string) => lines.push(`warn ${m}`),
    error: (m: string) => lines.push(`error ${m}`),
    with: () => base,
  };
  const problems = new RecentProblems(2);
  const log = problems.wrap(base, () => 5).with({ runId: "r" });
  log.info("fine");
  log.warn("first");
  log.error("second", { error: "boom" });
  log.error("third");
  assert.deepEqual(lines, ["info fine", "warn first", "error second", "error third"]);
  assert.deepEqual(problems.list(), [
    { ts: 5, level: "error", msg: "second", error: "boom" },
    { ts: 5, level: "error", msg: "third" },
  ]);

  await using gw = await startTestGateway();
  const c = await gw.client();
  const status = await c.request<
    { channels: { id: string; state: string }[]; recentProblems: unknown[] }
  >(
    "status",
    {},
  );
  assert.deepEqual(status.channels.map((ch) => ch.id), ["webchat", "telegram", "terminal"]);
  assert.equal(status.channels[1].state, "off");
  assert.ok(Array.isArray(status.recentProblems));
});
