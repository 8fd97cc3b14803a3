/**
 * One WebSocket client: the connect handshake, auth, frame limits, method dispatch and event
 * delivery. Every bad frame gets an error that names the problem; nothing throws into the socket.
 */
import {
  type Clock,
  type ErrorCode,
  type ErrorShape,
  GatehouseError,
  type Logger,
  toErrorShape,
} from "../kernel/mod.ts";
import type { AuthLimiter } from "./auth_limiter.ts";
import { admitDevice } from "./device_admission.ts";
import { type NonceBook, verifyDevice } from "./device_auth.ts";
import type { DeviceEnd, DeviceStore } from "./devices.ts";
import type { EventHub, Subscriber } from "./event_hub.ts";
import type { MethodSpec } from "./methods.ts";
import {
  connectParams,
  describeIssues,
  EVENT_SCOPES,
  PRE_AUTH_MAX_BYTES,
  PROTOCOL_VERSION,
  requestFrame,
  type Scope,
  SCOPES,
} from "./protocol.ts";
import { secretsEqual } from "./token.ts";

/** What a connection needs from the gateway. */
export interface ConnectionDeps {
  clock: Clock;
  logger: Logger;
  hub: EventHub;
  limiter: AuthLimiter;
  methods: Map<string, MethodSpec>;
  /** The token to compare with, or undefined when `gateway.auth.mode = "none"`. */
  token(): Promise<string | undefined>;
  version: string;
  maxPayloadBytes: number;
  tickIntervalMs: number;
  /** What `hello-ok.snapshot` carries. */
  snapshot(): Record<string, unknown>;
  /** Events whose names `hello-ok.features.events` lists. */
  events: string[];
  /** Paired devices; a `device` in connect is verified and admitted through it. */
  devices: DeviceStore;
  /** Challenge nonces already used by a signed connect. */
  nonces: NonceBook;
  /** Whether a peer address is loopback (a new device is paired automatically only from there). */
  isLocal(source: string): boolean;
}

/** Close codes used by the gateway. */
export const CLOSE = {
  policy: 1008,
  tooBig: 1009,
  shutdown: 1012,
} as const;

const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Events are dropped for a client whose unsent buffer is past this (a slow consumer). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const encoder = new TextEncoder();

let nextConn = 0;

/** Serves one socket. */
export class Connection implements Subscriber {
  readonly connId = `c${(++nextConn).toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
  #socket: WebSocket;
  #deps: ConnectionDeps;
  #log: Logger;
  #source: string;
  #nonce = crypto.randomUUID();
  #authed = false;
  /** Set when the socket is being closed for good: no frame is handled any more. */
  #ended = false;
  #deviceId?: string;
  #connecting = false;
  #scopes = new Set<Scope>();
  #seq = 0;
  #dropped = 0;
  #handshakeTimer?: ReturnType<Clock["setTimeout"]>;

  constructor(socket: WebSocket, source: string, deps: ConnectionDeps) {
    this.#socket = socket;
    this.#source = source;
    this.#deps = deps;
    this.#log = deps.logger.with({ connId: this.connId, source });
    socket.onopen = () => this.#open();
    socket.onmessage = (ev) => this.#message(ev.data);
    socket.onclose = () => this.#closed();
    socket.onerror = () => {};
  }

  /** The verified device of this connection, if it sent one. */
  get deviceId(): string | undefined {
    return this.#deviceId;
  }

  /** Takes every scope away at once and closes the socket: the device's token ended. */
  endDevice(reason: DeviceEnd): void {
    this.#ended = true;
    this.#authed = false;
    this.#scopes.clear();
    this.#deps.hub.remove(this);
    this.#log.info("device connection closed", { deviceId: this.#deviceId, reason });
    this.close(CLOSE.policy, reason);
  }

  /** Closes the socket with a code and a short reason. */
  close(code: number, reason: string): void {
    if (this.#socket.readyState <= WebSocket.OPEN) this.#socket.close(code, reason.slice(0, 120));
  }

  sendEvent(event: string, payloadJson: string): void {
    if (!this.#authed || !this.#scopes.has(EVENT_SCOPES[event] ?? "operator.read")) return;
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    if (this.#socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.#seq++; // the gap in seq tells the client it missed events
      if (this.#dropped++ % 1000 === 0) {
        this.#log.warn("slow client: events dropped", { dropped: this.#dropped });
      }
      return;
    }
    this.#socket.send(
      `{"type":"event","event":${JSON.stringify(event)},"payload":${payloadJson},"seq":${++this
        .#seq}}`,
    );
  }

  #send(frame: unknown): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(frame));
  }

  #reply(
    id: unknown,
    result: { ok: true; payload: unknown } | { ok: false; error: ErrorShape },
  ): void {
    this.#send({ type: "res", id: id ?? null, ...result });
  }

  #fail(id: unknown, error: GatehouseError | ErrorShape): void {
    this.#reply(id, {
      ok: false,
      error: error instanceof GatehouseError ? toErrorShape(error) : error,
    });
  }

  #open(): void {
    this.#send({
      type: "event",
      event: "connect.challenge",
      payload: { nonce: this.#nonce, ts: this.#deps.clock.now() },
      seq: ++this.#seq,
    });
    this.#handshakeTimer = this.#deps.clock.setTimeout(() => {
      if (!this.#authed) this.close(CLOSE.policy, "connect timeout: send req connect first");
    }, HANDSHAKE_TIMEOUT_MS);
  }

  #closed(): void {
    if (this.#handshakeTimer !== undefined) this.#deps.clock.clearTimeout(this.#handshakeTimer);
    this.#deps.hub.remove(this);
  }

  #message(data: unknown): void {
    if (this.#ended) return;
    if (typeof data !== "string") {
      this.#fail(
        null,
        new GatehouseError(
          "INVALID_REQUEST",
          "binary frames are not supported: send JSON text frames",
        ),
      );
      if (!this.#authed) this.close(CLOSE.policy, "binary frame before connect");
      return;
    }
    const limit = this.#authed ? this.#deps.maxPayloadBytes : PRE_AUTH_MAX_BYTES;
    if (data.length > limit || (data.length * 3 > limit && encoder.encode(data).length > limit)) {
      this.#fail(
        null,
        new GatehouseError(
          "PAYLOAD_TOO_LARGE",
          this.#authed
            ? `frame is larger than ${limit} bytes (gateway.max_payload_bytes): send less, or raise the limit`
            : `frame before connect is larger than ${limit} bytes: send a small connect request first`,
          { details: { limit } },
        ),
      );
      this.close(CLOSE.tooBig, "frame too large");
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      this.#fail(
        null,
        new GatehouseError(
          "INVALID_REQUEST",
          "frame is not valid JSON: send one JSON object per text frame",
        ),
      );
      if (!this.#authed) this.close(CLOSE.policy, "invalid JSON before connect");
      return;
    }
    const parsed = requestFrame.safeParse(raw);
    const id = (raw as { id?: unknown } | null)?.id;
    if (!parsed.success) {
      this.#fail(
        typeof id === "string" || typeof id === "number" ? id : null,
        new GatehouseError(
          "INVALID_REQUEST",
          `frame is not a request: expected {"type":"req","id","method","params"} (${
            describeIssues(parsed.error, "frame")
          })`,
        ),
      );
      if (!this.#authed) this.close(CLOSE.policy, "invalid frame before connect");
      return;
    }
    const frame = parsed.data;
    if (!this.#authed) {
      if (frame.method !== "connect") {
        this.#fail(
          frame.id,
          new GatehouseError(
            "AUTH_REQUIRED",
            `the first frame must be req connect (got ${
              JSON.stringify(frame.method)
            }): see docs/protocol.md`,
          ),
        );
        this.close(CLOSE.policy, "connect required");
        return;
      }
      if (this.#connecting) {
        this.#fail(
          frame.id,
          new GatehouseError("INVALID_REQUEST", "connect is already in progress"),
        );
        return;
      }
      this.#connecting = true;
      this.#connect(frame.id, frame.params)
        .catch((err) => {
          this.#log.error("connect failed", { error: String(err) });
          this.#fail(
            frame.id,
            // A device store answer (too many pending requests, a concurrent change) says itself.
            err instanceof GatehouseError ? err : new GatehouseError(
              "UNAVAILABLE",
              "the gateway cannot check the token right now (see its log; `gatehouse token --rotate` recreates a lost token file)",
              { retryable: true },
            ),
          );
          this.close(CLOSE.policy, "connect failed");
        })
        .finally(() => this.#connecting = false);
      return;
    }
    if (frame.method === "connect") {
      this.#fail(
        frame.id,
        new GatehouseError("INVALID_REQUEST", "already connected: connect is only the first frame"),
      );
      return;
    }
    this.#call(frame.id, frame.method, frame.params);
  }

  async #connect(id: string | number, params: unknown): Promise<void> {
    const { limiter } = this.#deps;
    const locked = limiter.lockedFor(this.#source);
    if (locked > 0) {
      this.#fail(
        id,
        new GatehouseError(
          "LOCKED_OUT",
          `too many failed auth attempts from ${this.#source}: retry in ${
            Math.ceil(locked / 1000)
          } s`,
          {
            retryable: true,
            retryAfterMs: locked,
          },
        ),
      );
      this.close(CLOSE.policy, "locked out");
      return;
    }
    const parsed = connectParams.safeParse(params);
    if (!parsed.success) {
      this.#fail(
        id,
        new GatehouseError("INVALID_REQUEST", `connect: ${describeIssues(parsed.error)}`),
      );
      this.close(CLOSE.policy, "invalid connect");
      return;
    }
    const p = parsed.data;
    if (p.minProtocol > PROTOCOL_VERSION || p.maxProtocol < PROTOCOL_VERSION) {
      this.#fail(
        id,
        new GatehouseError(
          "PROTOCOL_MISMATCH",
          `this gateway speaks protocol ${PROTOCOL_VERSION}; the client offers ${p.minProtocol}..${p.maxProtocol}: update the client or the gateway`,
          { details: { protocol: PROTOCOL_VERSION } },
        ),
      );
      this.close(CLOSE.policy, "protocol mismatch");
      return;
    }
    const expected = await this.#deps.token();
    let gatewayToken = false;
    if (expected !== undefined) {
      const given = p.auth?.token;
      if (given || !p.device) {
        if (!given || !(await secretsEqual(given, expected))) {
          this.#authFailed(
            id,
            given ? "AUTH_FAILED" : "AUTH_REQUIRED",
            given
              ? "wrong token: use the token in <home>/token on the gateway host (`gatehouse token` prints it)"
              : "auth.token is missing: pass the gateway token (`gatehouse token` prints it)",
          );
          return;
        }
        gatewayToken = true;
      }
    }
    // The shared token grants the operator scopes; a client may narrow them, never widen them.
    let granted: Scope[] = p.scopes ? [...new Set(p.scopes)] : [...SCOPES];
    let deviceToken: string | undefined;
    let epoch = 0;
    if (p.device) {
      const { devices } = this.#deps;
      const check = await verifyDevice(p.device, {
        nonce: this.#nonce,
        role: p.role,
        scopes: p.scopes,
        clock: this.#deps.clock,
        nonces: this.#deps.nonces,
      });
      if (!check.ok) {
        this.#authFailed(id, "AUTH_FAILED", check.message, { reason: check.reason });
        return;
      }
      epoch = devices.epoch(check.id);
      if (expected !== undefined) {
        const decision = await admitDevice(devices, {
          deviceId: check.id,
          publicKey: check.publicKey,
          client: {
            id: p.client.id,
            platform: p.client.platform,
            mode: p.client.mode,
            ...(p.client.displayName ? { displayName: p.client.displayName } : {}),
          },
          declared: p.scopes,
          gatewayToken,
          gatewayScopes: granted,
          deviceToken: p.auth?.deviceToken,
          source: this.#source,
          local: this.#deps.isLocal(this.#source),
        });
        if (!decision.admit) {
          if (decision.authFailure) {
            this.#authFailed(
              id,
              decision.error.code,
              decision.error.message,
              decision.error.options.details,
            );
          } else {
            this.#log.info("device not admitted", {
              deviceId: check.id,
              code: decision.error.code,
            });
            this.#fail(id, decision.error);
            this.close(CLOSE.policy, decision.close);
          }
          return;
        }
        granted = decision.scopes;
        deviceToken = decision.deviceToken;
        epoch = decision.epoch;
      }
      // A rotate or revoke of this device that happened while its connect was being checked.
      if (devices.epoch(check.id) !== epoch || this.#ended) {
        this.#authFailed(
          id,
          "AUTH_FAILED",
          "this device's token was rotated or revoked while it connected: connect again",
          { reason: "device-token" },
        );
        return;
      }
      this.#deviceId = check.id;
    }
    this.#deps.limiter.succeed(this.#source);
    this.#scopes = new Set(granted);
    this.#authed = true;
    if (this.#handshakeTimer !== undefined) this.#deps.clock.clearTimeout(this.#handshakeTimer);
    this.#log.info("client connected", {
      client: p.client.id,
      mode: p.client.mode,
      version: p.client.version,
      ...(this.#deviceId ? { deviceId: this.#deviceId } : {}),
    });
    this.#reply(id, {
      ok: true,
      payload: {
        type: "hello-ok",
        protocol: PROTOCOL_VERSION,
        server: { version: this.#deps.version, connId: this.connId },
        features: { methods: [...this.#deps.methods.keys()], events: this.#deps.events },
        snapshot: this.#deps.snapshot(),
        auth: {
          role: "operator",
          scopes: granted,
          ...(this.#deviceId ? { deviceId: this.#deviceId } : {}),
          ...(deviceToken ? { deviceToken } : {}),
        },
        policy: {
          maxPayload: this.#deps.maxPayloadBytes,
          tickIntervalMs: this.#deps.tickIntervalMs,
        },
      },
    });
    this.#deps.hub.add(this);
  }

  /** Answers a failed credential, counting it towards the source's lockout, and closes. */
  #authFailed(
    id: string | number,
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
  ): void {
    const lockout = this.#deps.limiter.fail(this.#source);
    this.#log.warn("auth failed", { code, ...details, lockout: lockout > 0 });
    this.#fail(
      id,
      lockout > 0
        ? new GatehouseError(
          "LOCKED_OUT",
          `${message}; too many failures from ${this.#source}: retry in ${
            Math.ceil(lockout / 1000)
          } s`,
          { retryable: true, retryAfterMs: lockout },
        )
        : new GatehouseError(code, message, details ? { details } : {}),
    );
    this.close(CLOSE.policy, "auth failed");
  }

  async #call(id: string | number, name: string, params: unknown): Promise<void> {
    const spec = this.#deps.methods.get(name);
    if (!spec) {
      this.#fail(
        id,
        new GatehouseError(
          "UNKNOWN_METHOD",
          `unknown method ${JSON.stringify(name)}: hello-ok.features.methods lists the methods`,
        ),
      );
      return;
    }
    if (!this.#scopes.has(spec.scope)) {
      this.#fail(
        id,
        new GatehouseError(
          "FORBIDDEN",
          `${name} needs scope ${spec.scope}, which this connection was not granted`,
          {
            details: { missingScope: spec.scope },
          },
        ),
      );
      return;
    }
    const parsed = spec.params.safeParse(params);
    if (!parsed.success) {
      this.#fail(
        id,
        new GatehouseError("INVALID_REQUEST", `${name}: ${describeIssues(parsed.error)}`),
      );
      return;
    }
    try {
      const payload = await spec.handle(parsed.data as never, {
        connId: this.connId,
        source: `ws:${this.connId}@${this.#source}`,
        scopes: this.#scopes,
      });
      this.#reply(id, { ok: true, payload: payload ?? {} });
    } catch (err) {
      if (!(err instanceof GatehouseError)) {
        this.#log.error("method failed", { method: name, error: String(err) });
      }
      this.#fail(id, toErrorShape(err));
    }
  }
}
