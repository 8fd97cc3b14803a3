/** A WebSocket client of the control-plane protocol, used by the CLI (and by the tests, as a real client). */
import { VERSION } from "../version.ts";

import { ClientError } from "./client_error.ts";
import type { DeviceIdentity } from "./device_identity.ts";

export { ClientError } from "./client_error.ts";

/** An event frame. */
export interface EventFrame {
  event: string;
  payload: Record<string, unknown>;
  seq: number;
}

/** Options of {@linkcode GatewayClient.connect}. */
export interface ConnectOptions {
  token?: string;
  /** @default "cli" */
  clientId?: string;
  /** @default "cli" */
  mode?: string;
  scopes?: string[];
  /** Signs the challenge as this device (docs/protocol.md, Devices). */
  device?: DeviceIdentity;
  /** The device token this device was given (needs `device`). */
  deviceToken?: string;
  /** Gives up connecting after this long. @default 10_000 */
  timeoutMs?: number;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/** A connected, authenticated client. */
export class GatewayClient {
  #ws: WebSocket;
  #pending = new Map<string, Pending>();
  #listeners = new Set<(e: EventFrame) => void>();
  #next = 0;
  /** The `hello-ok` payload. */
  hello: Record<string, unknown> = {};
  /** Resolves when the socket closes. */
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.closed = new Promise((resolve) => {
      ws.addEventListener("close", (ev) => {
        const err = new ClientError(
          "CLOSED",
          `connection closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ""})`,
        );
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
        resolve({ code: ev.code, reason: ev.reason });
      });
    });
    ws.addEventListener("message", (ev) => this.#frame(String(ev.data)));
  }

  /** Opens the socket, answers the challenge with `connect`, and resolves after `hello-ok`. */
  static connect(url: string, options: ConnectOptions = {}): Promise<GatewayClient> {
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(url);
      } catch (err) {
        reject(new ClientError("UNAVAILABLE", `cannot open ${url}: ${(err as Error).message}`));
        return;
      }
      const client = new GatewayClient(ws);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
        ws.close();
      };
      const timer = setTimeout(
        () =>
          fail(
            new ClientError(
              "TIMEOUT",
              `no answer from ${url} within ${options.timeoutMs ?? 10_000} ms`,
            ),
          ),
        options.timeoutMs ?? 10_000,
      );
      ws.addEventListener("error", () =>
        fail(
          new ClientError(
            "UNAVAILABLE",
            `cannot connect to ${url}: is the gateway running? (start it with \`gatehouse start\`)`,
          ),
        ));
      client.closed.then(({ code, reason }) =>
        fail(
          new ClientError(
            "CLOSED",
            `the gateway closed the connection (${code}${reason ? `: ${reason}` : ""})`,
          ),
        )
      );
      const off = client.onEvent((ev) => {
        if (ev.event !== "connect.challenge") return;
        off();
        const nonce = String(ev.payload.nonce ?? "");
        (options.device ? options.device.proof(nonce, { scopes: options.scopes }) : Promise.resolve(
          undefined,
        )).then((device) =>
          client.request("connect", {
            minProtocol: 4,
            maxProtocol: 4,
            client: {
              id: options.clientId ?? "cli",
              version: VERSION,
              platform: Deno.build.os,
              mode: options.mode ?? "cli",
            },
            role: "operator",
            ...(options.scopes ? { scopes: options.scopes } : {}),
            auth: {
              ...(options.token ? { token: options.token } : {}),
              ...(device && options.deviceToken ? { deviceToken: options.deviceToken } : {}),
            },
            ...(device ? { device } : {}),
          })
        ).then((hello) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          client.hello = hello as Record<string, unknown>;
          resolve(client);
        }, fail);
      });
    });
  }

  /** Sends a request; resolves with its payload or rejects with the gateway's error. */
  request<T = Record<string, unknown>>(method: string, params?: unknown): Promise<T> {
    const id = `r${++this.#next}`;
    return new Promise<T>((resolve, reject) => {
      if (this.#ws.readyState !== WebSocket.OPEN) {
        reject(new ClientError("CLOSED", "connection is closed"));
        return;
      }
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#ws.send(JSON.stringify({ type: "req", id, method, params: params ?? {} }));
    });
  }

  /** Sends a raw text frame (for tests of bad input). */
  sendRaw(text: string): void {
    this.#ws.send(text);
  }

  /** Calls `fn` for every event; returns the unsubscribe function. */
  onEvent(fn: (e: EventFrame) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Closes the socket. */
  close(): Promise<{ code: number; reason: string }> {
    if (this.#ws.readyState <= WebSocket.OPEN) this.#ws.close(1000, "bye");
    return this.closed;
  }

  #frame(text: string): void {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "event") {
      for (const fn of this.#listeners) fn(frame as unknown as EventFrame);
      return;
    }
    if (frame.type !== "res") return;
    const p = this.#pending.get(String(frame.id));
    if (!p) return;
    this.#pending.delete(String(frame.id));
    if (frame.ok) p.resolve(frame.payload);
    else {
      const e = frame.error as { code: string; message: string; details?: unknown };
      p.reject(new ClientError(e.code, e.message, e.details));
    }
  }
}

/** Whether a `chat`/`agent` event belongs to run `runId`. */
export function isForRun(payload: Record<string, unknown>, runId: string): boolean {
  return payload.runId === runId ||
    (Array.isArray(payload.runIds) && (payload.runIds as string[]).includes(runId));
}

/** What a caller of {@linkcode sendAndWait} may watch while the run goes on. */
export interface RunWatchers {
  /** A piece of streamed reply text. */
  onDelta?: (text: string) => void;
  /** A failover or compaction; `text` is the reply so far (text of a failed model is dropped). */
  onStatus?: (status: Record<string, unknown>, text: string) => void;
  /** A tool call starting or finishing (the `data` of an `agent` event on the `tool` stream). */
  onTool?: (data: Record<string, unknown>) => void;
}

/** Sends one message and resolves with the run's end state (final, aborted or error). */
export async function sendAndWait(
  client: GatewayClient,
  params: { sessionKey: string; message: string; queueMode?: string; idempotencyKey?: string },
  watch: RunWatchers | ((text: string) => void) = {},
): Promise<
  { runId: string; state: string; text: string; error?: { code: string; message: string } }
> {
  const watchers = typeof watch === "function" ? { onDelta: watch } : watch;
  const buffered: EventFrame[] = [];
  let runId: string | undefined;
  let settle: (e: EventFrame) => void = (e) => buffered.push(e);
  const off = client.onEvent((e) => {
    if (e.event === "chat" || (e.event === "agent" && e.payload.stream === "tool")) settle(e);
  });
  try {
    const ack = await client.request<{ runId: string }>("chat.send", {
      idempotencyKey: crypto.randomUUID(),
      ...params,
    });
    runId = ack.runId;
    return await new Promise((resolve, reject) => {
      client.closed.then(() =>
        reject(new ClientError("CLOSED", "connection closed before the reply"))
      );
      settle = (e) => {
        const p = e.payload;
        if (!isForRun(p, runId!)) return;
        const message = p.message as { text?: string } | undefined;
        if (e.event === "agent") watchers.onTool?.(p.data as Record<string, unknown>);
        else if (p.state === "delta") watchers.onDelta?.(String(p.deltaText ?? ""));
        else if (p.state === "status") {
          watchers.onStatus?.(p.status as Record<string, unknown>, message?.text ?? "");
        } else {
          resolve({
            runId: runId!,
            state: String(p.state),
            text: message?.text ?? "",
            ...(p.error ? { error: p.error as { code: string; message: string } } : {}),
          });
        }
      };
      for (const e of buffered.splice(0)) settle(e);
    });
  } finally {
    off();
  }
}
