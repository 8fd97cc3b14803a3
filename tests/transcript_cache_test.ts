import assert from "node:assert/strict";
import type { TranscriptEntry } from "../src/kernel/mod.ts";
import { TranscriptCache } from "../src/store/transcript_cache.ts";

const entry = (id: number, text: string): TranscriptEntry => ({ id, role: "user", text, ts: id });

Deno.test("transcript cache answers only when it knows the answer is exact", () => {
  const cache = new TranscriptCache();
  assert.equal(cache.read("s", 10, 100), undefined, "nothing cached");
  cache.fill("s", [entry(1, "aaaa"), entry(2, "bbbb")], false);
  assert.deepEqual(cache.read("s", 1, 100)?.map((e) => e.id), [2], "stopped by the limit");
  assert.deepEqual(cache.read("s", 10, 5)?.map((e) => e.id), [2], "stopped by the budget");
  assert.equal(cache.read("s", 10, 100), undefined, "needs older entries it does not hold");
  cache.fill("s", [entry(1, "aaaa"), entry(2, "bbbb")], true);
  assert.deepEqual(
    cache.read("s", 10, 100)?.map((e) => e.id),
    [1, 2],
    "holds the whole transcript",
  );
  cache.append("s", [entry(3, "cc")]);
  assert.deepEqual(cache.read("s", 10, 100)?.map((e) => e.id), [1, 2, 3]);
  assert.deepEqual(cache.read("s", 10, 1)?.map((e) => e.id), [3], "the newest is always included");
});

Deno.test("transcript cache stays within its bounds", () => {
  const cache = new TranscriptCache({ maxCharsPerSession: 10, maxCharsTotal: 25 });
  cache.fill("a", [], true);
  cache.append("a", [entry(1, "12345"), entry(2, "12345"), entry(3, "12345")]);
  assert.equal(cache.read("a", 10, 100), undefined, "the oldest fell off, so it is incomplete");
  assert.deepEqual(cache.read("a", 10, 9)?.map((e) => e.id), [3]);
  assert.deepEqual(cache.read("a", 2, 100)?.map((e) => e.id), [2, 3], "the limit is met exactly");
  cache.fill("b", [entry(4, "1234567890")], true);
  cache.fill("c", [entry(5, "1234567890")], true);
  assert.equal(cache.size, 2, "the least recently used session was evicted");
  assert.equal(cache.read("a", 10, 10), undefined);
  cache.append("zzz", [entry(6, "x")]);
  assert.equal(cache.read("zzz", 10, 10), undefined, "append does not start a tail");
  cache.drop("b");
  assert.equal(cache.size, 1);
});

Deno.test("transcript cache bounds the number of entries too", () => {
  const cache = new TranscriptCache({ maxEntriesPerSession: 3, maxEntriesTotal: 4 });
  cache.fill("a", [entry(1, "a"), entry(2, "b"), entry(3, "c"), entry(4, "d")], true);
  assert.deepEqual(cache.read("a", 3, 100)?.map((e) => e.id), [2, 3, 4]);
  assert.equal(cache.read("a", 4, 100), undefined, "trimmed, so no longer complete");
  cache.fill("b", [entry(5, "e"), entry(6, "f")], true);
  assert.equal(cache.size, 1, "five entries in all was too many: a was evicted");
});
