/** A bare WebSocket for protocol tests: every frame the server sends, and how it closed. */

/** Frames in arrival order, with a way to wait for the next one. */
export class RawSocket implements AsyncDisposable {
  readonly ws: WebSocket;
  #frames: Record<string, unknown>[] = [];
  #waiters: Array<(f: Record<string, unknown>) => void> = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, headers?: Record<string, string>) {
    this.ws = new WebSocket(url, headers ? ({ headers } as unknown as string[]) : undefined);
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
      this.ws.addEventListener("error", (e) => reject(new Error((e as ErrorEvent).message)), {
        once: true,
      });
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) =>
      this.ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }))
    );
    this.ws.addEventListener("message", (e) => {
      const f = JSON.parse(String(e.data));
      const w = this.#waiters.shift();
      if (w) w(f);
      else this.#frames.push(f);
    });
  }

  /** The next frame (waits up to 5 s). */
  next(): Promise<Record<string, unknown>> {
    const f = this.#frames.shift();
    if (f) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no frame within 5 s")), 5000);
      this.#waiters.push((frame) => {
        clearTimeout(t);
        resolve(frame);
      });
    });
  }

  send(data: unknown): void {
    this.ws.send(typeof data === "string" ? data : JSON.stringify(data));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close();
    await this.closed;
  }
}

/** A valid connect request. */
export function connectFrame(token: string | undefined, extra: Record<string, unknown> = {}) {
  return {
    type: "req",
    id: "c1",
    method: "connect",
    params: {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: "test", version: "0", platform: "test", mode: "test" },
      role: "operator",
      auth: token ? { token } : {},
      ...extra,
    },
  };
}
