import assert from "node:assert/strict";
import { GroupCommitter } from "../src/store/group_commit.ts";

const LIMITS = { maxChecks: 100, maxMutations: 1000, maxBytes: 800 * 1024 };

Deno.test("group commit merges concurrent commits and answers each", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const group = new GroupCommitter(kv, LIMITS);
    const results = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          group.commit([{ key: ["k", i], versionstamp: null }], [{
            key: ["k", i],
            bytes: 8,
            value: i,
          }]),
      ),
    );
    assert.ok(results.every((ok) => ok));
    for (let i = 0; i < 50; i++) assert.equal((await kv.get(["k", i])).value, i);
  } finally {
    kv.close();
  }
});

Deno.test("group commit never lets two writers of one key both win a check", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kv.set(["meta"], 0);
    const seen = await kv.get(["meta"]);
    const group = new GroupCommitter(kv, LIMITS);
    const write = (v: number) => group.commit([seen], [{ key: ["meta"], bytes: 8, value: v }]);
    const results = await Promise.all([write(1), write(2), write(3)]);
    assert.deepEqual(results.filter(Boolean).length, 1, "exactly one update wins");
    assert.equal((await kv.get(["meta"])).value, results.indexOf(true) + 1);
  } finally {
    kv.close();
  }
});

Deno.test("a failed check in a merged commit fails only its own operation", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kv.set(["a"], "old");
    const group = new GroupCommitter(kv, LIMITS);
    const results = await Promise.all([
      group.commit([], [{ key: ["x"], bytes: 8, value: 1 }]),
      group.commit([{ key: ["a"], versionstamp: null }], [{ key: ["y"], bytes: 8, value: 2 }]),
      group.commit([], [{ key: ["z"], bytes: 8, value: 3 }]),
    ]);
    assert.deepEqual(results, [true, false, true]);
    assert.equal((await kv.get(["y"])).value, null);
    assert.equal((await kv.get(["z"])).value, 3);
  } finally {
    kv.close();
  }
});
