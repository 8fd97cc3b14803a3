/** The V8 inspector of a gateway started with `--inspect=127.0.0.1:<port>` (profile, heap). */
import { sleep } from "./_stats.ts";

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
export class Cdp {
  #ws: WebSocket;
  #next = 0;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #listeners = new Map<string, (params: Record<string, unknown>) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data));
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
        else p?.resolve(msg.result);
      } else this.#listeners.get(msg.method)?.(msg.params);
    };
  }

  static async open(port: number): Promise<Cdp> {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("cannot open the inspector socket"));
    });
    return new Cdp(ws);
  }

  send<T = Record<string, unknown>>(method: string, params: unknown = {}): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  on(method: string, fn: (params: Record<string, unknown>) => void): void {
    this.#listeners.set(method, fn);
  }

  close(): void {
    this.#ws.close();
  }
}

/** V8 heap used and committed (after a full GC when `gc`), through the inspector. */
export async function v8Heap(cdp: Cdp, gc = true): Promise<{ used: number; total: number }> {
  if (gc) {
    await cdp.send("HeapProfiler.collectGarbage");
    await sleep(200);
  }
  const h = await cdp.send<{ usedSize: number; totalSize: number }>("Runtime.getHeapUsage");
  return { used: h.usedSize, total: h.totalSize };
}
