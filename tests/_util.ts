/** Helpers shared by the tests. */

import { strict as assert } from "node:assert";

/** Bytes of a hex string. */
export function hex(s: string): Uint8Array<ArrayBuffer> {
  assert(s.length % 2 === 0, "odd-length hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Hex string of bytes. */
export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Reads a JSON file next to the tests. */
export function readJson<T>(name: string): T {
  return JSON.parse(Deno.readTextFileSync(new URL(`./${name}`, import.meta.url)));
}

/** True when running as root (integration tests need it). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}
