/** Broadcasts gateway events to connected clients, each with its own `seq`. */
import type { EventSink, GatewayEventName, GatewayEvents } from "../kernel/mod.ts";

/** A client that receives events. */
export interface Subscriber {
  /** Sends `{type:"event", event, payload, seq}`; `payloadJson` is already serialised. */
  sendEvent(event: string, payloadJson: string): void;
}

/** The event sink the agent and channels publish to. */
export class EventHub implements EventSink {
  #subscribers = new Set<Subscriber>();
  #listeners = new Set<<E extends GatewayEventName>(event: E, payload: GatewayEvents[E]) => void>();

  /** Calls `fn` with every event, in process (channels answering their runs); returns unsubscribe. */
  listen(
    fn: <E extends GatewayEventName>(event: E, payload: GatewayEvents[E]) => void,
  ): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Clients receiving events now. */
  get size(): number {
    return this.#subscribers.size;
  }

  add(s: Subscriber): void {
    this.#subscribers.add(s);
  }

  remove(s: Subscriber): void {
    this.#subscribers.delete(s);
  }

  publish<E extends GatewayEventName>(event: E, payload: GatewayEvents[E]): void {
    for (const fn of this.#listeners) fn(event, payload);
    if (this.#subscribers.size === 0) return;
    const json = JSON.stringify(payload);
    for (const s of this.#subscribers) s.sendEvent(event, json);
  }
}
