/** Records a client's events and waits for the ones a test expects. */
import { type EventFrame, type GatewayClient, isForRun } from "../../src/cli/client.ts";

/** Every event a client received, with waits. */
export class EventLog {
  readonly events: EventFrame[] = [];
  #waiters: Array<() => void> = [];

  constructor(client: GatewayClient) {
    client.onEvent((e) => {
      this.events.push(e);
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** `chat` payloads for a run. */
  chat(runId: string): Record<string, unknown>[] {
    return this.events.filter((e) => e.event === "chat" && isForRun(e.payload, runId)).map((e) =>
      e.payload
    );
  }

  /** `status` payloads of a run's chat events (failovers and compactions), in order. */
  statuses(runId: string): Record<string, unknown>[] {
    return this.chat(runId).filter((p) => p.state === "status").map((p) =>
      p.status as Record<string, unknown>
    );
  }

  /** `data` of a run's `agent` tool events, in order. */
  tools(runId: string): Record<string, unknown>[] {
    return this.events.filter((e) =>
      e.event === "agent" && e.payload.stream === "tool" && isForRun(e.payload, runId)
    ).map((e) => e.payload.data as Record<string, unknown>);
  }

  /** Waits (up to `ms`) until `pred` holds over the log. */
  async until(pred: (log: EventLog) => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting; events: ${
            JSON.stringify(this.events.map((e) => [e.event, e.payload.state ?? e.payload.stream]))
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 25)); // also polls predicates on other state
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the run's end state (`final`, `aborted` or `error`) and returns that payload. */
  async end(runId: string, ms?: number): Promise<Record<string, unknown>> {
    const done = (p: Record<string, unknown>) =>
      p.state === "final" || p.state === "aborted" || p.state === "error";
    await this.until((l) => l.chat(runId).some(done), ms);
    return this.chat(runId).find(done)!;
  }
}
