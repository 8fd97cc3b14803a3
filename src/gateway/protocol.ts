/** The control-plane wire format: frames, the connect handshake, scopes. Parsed with zod at the edge. */
import { z } from "zod";

/** Protocol version spoken; the frame shape follows OpenClaw's gateway protocol v4. */
export const PROTOCOL_VERSION = 4;

/** Largest frame accepted before `connect` succeeds. */
export const PRE_AUTH_MAX_BYTES = 64 * 1024;

/** Operator scopes; a method names the one it needs. */
export const SCOPES = [
  "operator.read",
  "operator.write",
  "operator.approvals",
  "operator.pairing",
  "operator.admin",
] as const;

/** One operator scope. */
export type Scope = typeof SCOPES[number];

/** The scope a client needs to receive an event; events not listed need `operator.read`. */
export const EVENT_SCOPES: Readonly<Record<string, Scope>> = {
  "exec.approval.requested": "operator.approvals",
  "exec.approval.resolved": "operator.approvals",
  "device.pair.requested": "operator.pairing",
  "device.pair.resolved": "operator.pairing",
};

const id = z.union([z.string().min(1).max(128), z.number().int()]);

/** `{type:"req", id, method, params}` */
export const requestFrame = z.object({
  type: z.literal("req"),
  id,
  method: z.string().min(1).max(128),
  params: z.unknown().optional(),
});

/** A parsed request frame. */
export type RequestFrame = z.output<typeof requestFrame>;

/** Params of the first frame, `req connect`. */
export const connectParams = z.object({
  minProtocol: z.number().int().min(1),
  maxProtocol: z.number().int().min(1),
  client: z.object({
    id: z.string().min(1).max(128),
    version: z.string().min(1).max(64),
    platform: z.string().min(1).max(64),
    mode: z.string().min(1).max(32),
    displayName: z.string().max(128).optional(),
  }),
  role: z.literal("operator"),
  scopes: z.array(z.enum(SCOPES)).max(16).optional(),
  auth: z.object({
    token: z.string().max(4096).optional(),
    deviceToken: z.string().min(1).max(4096).optional(),
  }).optional(),
  /** The device's proof of its key (docs/protocol.md, Devices). */
  device: z.object({
    id: z.string().regex(/^[0-9a-f]{64}$/, "64 lower-case hex digits (SHA-256 of publicKey)"),
    publicKey: z.string().min(1).max(128),
    signature: z.string().min(1).max(256),
    signedAt: z.number().int().nonnegative(),
    nonce: z.string().min(1).max(128),
  }).optional(),
}).superRefine((p, ctx) => {
  if (p.auth?.deviceToken !== undefined && !p.device) {
    ctx.addIssue({
      code: "custom",
      path: ["auth", "deviceToken"],
      message: "a device token works only with its device: send device (signed) with it",
    });
  }
});

/** Parsed connect params. */
export type ConnectParams = z.output<typeof connectParams>;

/** Turns zod issues into one sentence naming each field path. */
export function describeIssues(error: z.ZodError, prefix = "params"): string {
  return error.issues.slice(0, 5).map((i) => {
    const path = [prefix, ...i.path.map(String)].join(".");
    return `${path}: ${i.message}`;
  }).join("; ");
}
