import { strict as assert } from "node:assert";
import { concatBytes } from "../core/bytes.ts";

Deno.test("concatBytes: the parts in order, in a buffer of exactly their total length", () => {
  const parts = [Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3), Uint8Array.of(4, 5, 6)];
  const out = concatBytes(parts);
  assert.deepEqual([...out], [1, 2, 3, 4, 5, 6]);
  assert.equal(out.buffer.byteLength, 6);
  out[0] = 9;
  assert.equal(parts[0][0], 1, "a copy, not a view of a part");
  assert.equal(concatBytes([]).length, 0);
});

Deno.test("concatBytes: the buffer comes from the allocator given", () => {
  const made: Uint8Array<ArrayBuffer>[] = [];
  const out = concatBytes([Uint8Array.of(7), Uint8Array.of(8)], (n) => {
    const b = new Uint8Array(n);
    made.push(b);
    return b;
  });
  assert.equal(made.length, 1);
  assert.equal(out, made[0], "the allocator's buffer is the result");
  assert.deepEqual([...out], [7, 8]);
});
