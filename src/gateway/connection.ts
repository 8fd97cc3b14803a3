/**
 * One WebSocket client: the connect handshake, auth, frame limits, method dispatch and event
 * delivery. Every bad frame gets an error that names the problem; nothing throws into the socket.
 */
import {
  type Clock,
  type ErrorShape,
  GatehouseError,
  type Logger,
  toErrorShape,
} from "../kernel/mod.ts";
import type { AuthLimiter } from "./auth_limiter.ts";
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
            new GatehouseError(
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
    if (expected !== undefined) {
      const given = p.auth?.token;
      if (!given || !(await secretsEqual(given, expected))) {
        const lockout = limiter.fail(this.#source);
        this.#log.warn("auth failed", { client: p.client.id, lockout: lockout > 0 });
        this.#fail(
          id,
          lockout > 0
            ? new GatehouseError(
              "LOCKED_OUT",
              `wrong token; too many failures from ${this.#source}: retry in ${
                Math.ceil(lockout / 1000)
              } s`,
              {
                retryable: true,
                retryAfterMs: lockout,
              },
            )
            : new GatehouseError(
              given ? "AUTH_FAILED" : "AUTH_REQUIRED",
              given
                ? "wrong token: use the token in <home>/token on the gateway host (`gatehouse token` prints it)"
                : "auth.token is missing: pass the gateway token (`gatehouse token` prints it)",
            ),
        );
        this.close(CLOSE.policy, "auth failed");
        return;
      }
      limiter.succeed(this.#source);
    }
    // The shared token grants the operator scopes; a client may narrow them, never widen them.
    const granted = p.scopes ? [...new Set(p.scopes)] : [...SCOPES];
    this.#scopes = new Set(granted);
    this.#authed = true;
    if (this.#handshakeTimer !== undefined) this.#deps.clock.clearTimeout(this.#handshakeTimer);
    this.#log.info("client connected", {
      client: p.client.id,
      mode: p.client.mode,
      version: p.client.version,
    });
    this.#reply(id, {
      ok: true,
      payload: {
        type: "hello-ok",
        protocol: PROTOCOL_VERSION,
        server: { version: this.#deps.version, connId: this.connId },
        features: { methods: [...this.#deps.methods.keys()], events: this.#deps.events },
        snapshot: this.#deps.snapshot(),
        auth: { role: "operator", scopes: granted },
        policy: {
          maxPayload: this.#deps.maxPayloadBytes,
          tickIntervalMs: this.#deps.tickIntervalMs,
        },
      },
    });
    this.#deps.hub.add(this);
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
