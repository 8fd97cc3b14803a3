/** The terminal chat's input routing: approvals get the next line, /stop acts during a reply. */
import assert from "node:assert/strict";
import { LineRouter } from "../src/cli/line_router.ts";

/** A source the test feeds line by line. */
function feed() {
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  async function* source() {
    while (true) {
      while (lines.length) yield lines.shift()!;
      if (ended) return;
      await new Promise<void>((r) => (wake = r));
    }
  }
  return {
    source: source(),
    push(line: string) {
      lines.push(line);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("lines go to the chat in order; /stop during a reply stops it and is not a message", async () => {
  const f = feed();
  const router = new LineRouter(f.source);
  let stops = 0;
  router.onStop = () => stops++;
  f.push("hello");
  assert.equal(await router.next(), "hello");
  router.running = true;
  f.push("/stop");
  f.push("typed while it ran");
  await tick();
  assert.equal(stops, 1);
  router.running = false;
  assert.equal(await router.next(), "typed while it ran");
  f.push("/stop");
  assert.equal(await router.next(), "/stop", "with no reply running it is a message");
  f.end();
  assert.equal(await router.next(), undefined);
});

Deno.test("a question asked during a reply gets the next line", async () => {
  const f = feed();
  const router = new LineRouter(f.source);
  router.running = true;
  const answer = router.answer();
  f.push("y");
  assert.equal(await answer, "y");
  f.end();
  assert.equal(await router.answer(), undefined);
});

Deno.test("an answer typed ahead, before the question, answers it", async () => {
  const f = feed();
  const router = new LineRouter(f.source);
  router.running = true;
  f.push("y");
  await tick();
  assert.equal(await router.answer(), "y");
  f.end();
});
