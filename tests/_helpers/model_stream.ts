/** Reads a provider's event stream in tests: all of it, its text, or the failure it ends with. */
import assert from "node:assert/strict";
import { type ModelStreamEvent, ProviderError } from "../../src/kernel/mod.ts";

/** Every event of a stream that must complete. */
export async function collect(
  events: AsyncIterable<ModelStreamEvent>,
): Promise<ModelStreamEvent[]> {
  const out: ModelStreamEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

/** The ProviderError a stream must end with. */
export async function failure(events: AsyncIterable<ModelStreamEvent>): Promise<ProviderError> {
  try {
    await collect(events);
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${err}`);
    return err;
  }
  assert.fail("the stream completed instead of failing");
}

/** The text deltas joined. */
export function textOf(events: ModelStreamEvent[]): string {
  return events.map((e) => (e.type === "text" ? e.delta : "")).join("");
}
