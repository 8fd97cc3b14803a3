/** A channel adapter for tests that keeps what it was asked to send (Markdown as one chunk). */
import type { ChannelAdapter, ChannelSend } from "../../src/kernel/mod.ts";

/** Records every send; `id` is the channel name configs point at. */
export class RecordingChannel implements ChannelAdapter {
  readonly sent: ChannelSend[] = [];

  constructor(readonly id = "test") {}

  render(markdown: string): string[] {
    return [markdown];
  }

  send(message: ChannelSend): Promise<{ messageId: string }> {
    this.sent.push(message);
    return Promise.resolve({ messageId: String(this.sent.length) });
  }

  /** Resolves once `count` messages were sent; rejects after `ms`. */
  async until(count: number, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.sent.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`only ${this.sent.length} of ${count} sent in time`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
