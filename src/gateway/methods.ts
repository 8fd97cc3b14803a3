/** The control-plane methods: each with its required scope, its params schema and its handler. */
import { z } from "zod";
import type { ChatService } from "../agent/chat_service.ts";
import type { ModelCatalog } from "../providers/catalog.ts";
import type { PairingStore } from "../channels/pairing.ts";
import { type ApprovalBroker, originOf, type ToolRunner } from "../tools/mod.ts";
import {
  type EventSink,
  GatehouseError,
  MAIN_SESSION_KEY,
  sessionKeyProblem,
  type SessionMeta,
  type SessionStore,
} from "../kernel/mod.ts";
import type { DeviceStore } from "./devices.ts";
import { type Scope, SCOPES } from "./protocol.ts";

/** Who is calling. */
export interface MethodContext {
  connId: string;
  source: string;
  /** The scopes the caller holds (nobody grants a device more than they hold). */
  scopes: ReadonlySet<Scope>;
}

/** One method. */
export interface MethodSpec {
  scope: Scope;
  params: z.ZodType;
  handle(params: never, ctx: MethodContext): unknown;
}

/** What the methods need. */
export interface MethodDeps {
  chat: ChatService;
  store: SessionStore;
  events: EventSink;
  /** The configured models: checks session picks, lists models and cooldowns. */
  catalog: ModelCatalog;
  tools: ToolRunner;
  approvals: ApprovalBroker;
  pairing: PairingStore;
  devices: DeviceStore;
  status(): Record<string, unknown>;
  health(): Record<string, unknown>;
}

const sessionKey = z.string().max(512).superRefine((key, ctx) => {
  const problem = sessionKeyProblem(key);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const noParams = z.object({}).optional();

const deviceParams = z.object({
  deviceId: z.string().regex(/^[0-9a-f]{64}$/, "a device id: 64 lower-case hex digits"),
});

function method<S extends z.ZodType>(
  scope: Scope,
  params: S,
  handle: (params: z.output<S>, ctx: MethodContext) => unknown,
): MethodSpec {
  return { scope, params, handle: handle as MethodSpec["handle"] };
}

function sessionView(s: SessionMeta, chat: ChatService) {
  return {
    key: s.key,
    label: s.label ?? null,
    model: s.model ?? null,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    inputTokens: s.inputTokens,
    outputTokens: s.outputTokens,
    running: chat.lanes.isRunning(s.key),
    queued: chat.lanes.depth(s.key),
  };
}

/** Tokens used across sessions (what `status` reports). */
function usageTotals(sessions: SessionMeta[]) {
  let inputTokens = 0;
  let outputTokens = 0;
  for (const s of sessions) {
    inputTokens += s.inputTokens;
    outputTokens += s.outputTokens;
  }
  return { sessions: sessions.length, inputTokens, outputTokens };
}

const notFound = (key: string) =>
  new GatehouseError(
    "NOT_FOUND",
    `no session ${JSON.stringify(key)}: sessions.list shows the sessions that exist`,
  );

/**
 * The source a turn in question would carry: `channel[:sender]` when the caller asks about a
 * message from there, else the caller's own (a message it sends has that source).
 */
function askedSource(p: { channel?: string; sender?: string }, ctx: MethodContext): string {
  if (!p.channel) return ctx.source;
  return p.sender ? `${p.channel}:${p.sender}` : p.channel;
}

/** Builds the method table. */
export function createMethods(deps: MethodDeps): Map<string, MethodSpec> {
  const { chat, store } = deps;
  // The origin a turn computes (agent/turn.ts): the session key's channel and peer when it names
  // them, else its first message's source. Both methods below use it, so they show what turns get.
  const toolsFor = (sessionKey: string, source: string) => {
    const origin = originOf(sessionKey, source);
    return { origin, tools: deps.tools.effective(origin) };
  };
  const table: Record<string, MethodSpec> = {
    "health": method("operator.read", noParams, () => deps.health()),
    "status": method("operator.read", noParams, async (_p, ctx) => ({
      ...deps.status(),
      // What a message the caller sends to the main session may use, by the policy.
      tools: toolsFor(MAIN_SESSION_KEY, ctx.source).tools.filter((d) => d.enabled).map((d) =>
        d.name
      ),
      usage: usageTotals(await store.listSessions()),
    })),
    "models.list": method("operator.read", noParams, async () => {
      // Models sessions picked are listed too, so their cooldowns show.
      const picked = (await store.listSessions()).flatMap((s) => s.model ? [s.model] : []);
      return { models: deps.catalog.list(picked) };
    }),
    "chat.send": method(
      "operator.write",
      z.object({
        sessionKey,
        message: z.string().min(1, "message is empty: send some text"),
        idempotencyKey: z.string().min(1).max(256),
        queueMode: z.enum(["followup", "collect", "interrupt", "steer"]).optional(),
      }),
      async (p, ctx) => {
        const r = await chat.send({
          sessionKey: p.sessionKey,
          text: p.message,
          idempotencyKey: p.idempotencyKey,
          queueMode: p.queueMode,
          source: ctx.source,
        });
        return { runId: r.runId, status: r.status, ...(r.duplicate ? { duplicate: true } : {}) };
      },
    ),
    "chat.history": method(
      "operator.read",
      z.object({ sessionKey, limit: z.number().int().min(1).max(1000).optional() }),
      async (p) => {
        if (!(await store.getSession(p.sessionKey))) throw notFound(p.sessionKey);
        const entries = await store.readTranscript(p.sessionKey, { limit: p.limit ?? 100 });
        return {
          sessionKey: p.sessionKey,
          messages: entries.map((e) => ({
            id: e.id,
            role: e.role === "note" ? "system" : e.role,
            text: e.text,
            ts: e.ts,
            ...(e.runId ? { runId: e.runId } : {}),
            ...(e.tool ? { tool: e.tool } : {}),
            ...(e.covers !== undefined ? { covers: e.covers } : {}),
          })),
        };
      },
    ),
    "chat.abort": method(
      "operator.write",
      z.object({ sessionKey }),
      (p) => chat.abort(p.sessionKey),
    ),
    "sessions.list": method(
      "operator.read",
      z.object({ limit: z.number().int().min(1).max(10_000).optional() }).optional(),
      async (p) => ({
        sessions: (await store.listSessions({ limit: p?.limit ?? 500 })).map((s) =>
          sessionView(s, chat)
        ),
      }),
    ),
    "sessions.patch": method(
      "operator.write",
      z.object({
        sessionKey,
        label: z.string().max(200).nullable().optional(),
        model: z.string().min(1, "use null to go back to the default model").max(200).nullable()
          .optional(),
      }),
      async (p) => {
        if (p.model) {
          const problem = deps.catalog.problem(p.model);
          if (problem) throw new GatehouseError("INVALID_REQUEST", `params.model: ${problem}`);
        }
        const existed = await store.getSession(p.sessionKey);
        const s = await store.patchSession(p.sessionKey, { label: p.label, model: p.model }, {
          create: true,
        });
        deps.events.publish("sessions.changed", {
          sessionKey: p.sessionKey,
          reason: existed ? "patched" : "created",
        });
        return { session: sessionView(s!, chat) };
      },
    ),
    "tools.effective": method(
      "operator.read",
      z.object({
        sessionKey,
        channel: z.string().min(1).max(64).optional(),
        sender: z.string().min(1).max(128).optional(),
      }),
      (p, ctx) => {
        // As a turn of this session would have it for a message from the caller, or from
        // `channel`/`sender` when asked; a key that names its channel and peer decides alone.
        const source = askedSource(p, ctx);
        return { sessionKey: p.sessionKey, source, ...toolsFor(p.sessionKey, source) };
      },
    ),
    "exec.approval.list": method("operator.approvals", noParams, () => ({
      approvals: deps.approvals.pending(),
    })),
    "exec.approval.resolve": method(
      "operator.approvals",
      z.object({
        id: z.string().min(1).max(128),
        decision: z.enum(["allow-once", "allow-always", "deny"]),
      }),
      async (p, ctx) => {
        const request = await deps.approvals.resolve(p.id, p.decision, ctx.source);
        return { ok: true, id: p.id, decision: p.decision, tool: request.tool };
      },
    ),
    "channels.pairing.list": method(
      "operator.pairing",
      z.object({ channel: z.string().min(1).max(32).optional() }).optional(),
      (p) => deps.pairing.list(p?.channel),
    ),
    "channels.pairing.approve": method(
      "operator.pairing",
      z.object({ channel: z.string().min(1).max(32), code: z.string().min(1).max(32) }),
      async (p, ctx) => ({ user: await deps.pairing.approve(p.channel, p.code, ctx.source) }),
    ),
    "channels.pairing.revoke": method(
      "operator.pairing",
      z.object({ channel: z.string().min(1).max(32), userId: z.string().min(1).max(64) }),
      async (p) => {
        if (!(await deps.pairing.revoke(p.channel, p.userId))) {
          throw new GatehouseError(
            "NOT_FOUND",
            `${p.channel} user ${p.userId} is not paired: channels.pairing.list shows who is`,
          );
        }
        return { ok: true };
      },
    ),
    "device.pair.list": method("operator.pairing", noParams, async () => ({
      pending: await deps.devices.pending(),
      devices: await deps.devices.devices(),
    })),
    "device.pair.approve": method(
      "operator.pairing",
      z.object({
        requestId: z.string().min(1).max(32),
        scopes: z.array(z.enum(SCOPES)).max(16).optional(),
      }),
      async (p, ctx) => ({
        device: await deps.devices.approve(p.requestId, {
          ...(p.scopes ? { scopes: p.scopes } : {}),
          by: ctx.source,
          allowed: ctx.scopes,
        }),
      }),
    ),
    "device.pair.reject": method(
      "operator.pairing",
      z.object({ requestId: z.string().min(1).max(32) }),
      async (p, ctx) => {
        const r = await deps.devices.reject(p.requestId, ctx.source);
        return { ok: true, requestId: r.requestId, deviceId: r.deviceId };
      },
    ),
    "device.token.rotate": method("operator.pairing", deviceParams, async (p) => ({
      ok: true,
      deviceId: p.deviceId,
      closed: await deps.devices.end(p.deviceId, "rotate"),
    })),
    "device.token.revoke": method("operator.pairing", deviceParams, async (p) => ({
      ok: true,
      deviceId: p.deviceId,
      closed: await deps.devices.end(p.deviceId, "revoke"),
    })),
    "sessions.reset": method("operator.admin", z.object({ sessionKey }), async (p) => {
      if (!(await chat.reset(p.sessionKey))) throw notFound(p.sessionKey);
      return { ok: true };
    }),
    "sessions.delete": method("operator.admin", z.object({ sessionKey }), async (p) => {
      if (!(await chat.delete(p.sessionKey))) throw notFound(p.sessionKey);
      return { ok: true };
    }),
  };
  return new Map(Object.entries(table));
}
