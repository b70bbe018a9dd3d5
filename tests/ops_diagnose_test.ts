/**
 * Issue 12 item 2, the runner's side, in namespaces at the default level
 * (no `-v`) and with the real 15 s timer: a client holding the wrong server
 * key, a PSK mismatch, an absent server and a legacy client with the wrong
 * key each make the right one-line cause appear within 25 s, once. The four
 * beds run at once, so the test takes about 25 s. A working tunnel at `-v`
 * logs its session start and says nothing of the kind.
 */

import { strict as assert } from "node:assert";
import { type Bed, tappetArgv, withBed } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { bedTest, keys, linesMatching, startBoth, startEnd } from "./_ops.ts";

/** The warning's first words, before the cause. */
const CURRENT = /^tappet: warning: no handshake completed in \d+ s: /;
const LEGACY = /^tappet: warning: nothing from the peer opened in \d+ s: /;

/** Waits up to `ms` for a line matching `re` in the log of `p`. */
async function line(p: { text(): string }, re: RegExp, ms = 25_000): Promise<string> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const l = linesMatching(p.text(), re);
    if (l.length > 0) return l[0];
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no line matching ${re} within ${ms} ms:\n${p.text()}`);
}

type Case = (bed: Bed) => Promise<void>;

const cases: [string, number, Case][] = [
  ["the client holds the wrong server key", 234, async ({ pair, dir, procs }) => {
    const b = startEnd(pair, dir, "b", { verbose: false });
    procs.push(b);
    const a = startEnd(pair, dir, "a", { peerKey: "c", verbose: false });
    procs.push(a);
    // b: mac1 is keyed with b's public key, which a does not hold.
    const lb = await line(b, CURRENT);
    assert.match(lb, /failed mac1: the sender holds another public key for us/);
    const la = await line(a, CURRENT);
    assert.match(la, /initiation\(s\) sent, no answer: the peer is down/);
  }],
  ["the pre-shared keys differ", 235, async ({ pair, dir, procs }) => {
    const psk = (n: string) => ["--psk", `${dir}/${n}.psk`];
    const b = startEnd(pair, dir, "b", { verbose: false, extra: psk("p1") });
    procs.push(b);
    const a = startEnd(pair, dir, "a", { verbose: false, extra: psk("p2") });
    procs.push(a);
    const la = await line(a, CURRENT);
    assert.match(la, /passed mac1 but did not decrypt: the pre-shared keys differ/);
    const lb = await line(b, CURRENT);
    assert.match(lb, /answered, but the peer never used the session: the pre-shared keys differ/);
  }],
  ["no server", 236, async ({ pair, dir, procs }) => {
    const a = startEnd(pair, dir, "a", { verbose: false });
    procs.push(a);
    const la = await line(a, CURRENT);
    assert.match(
      la,
      /handshake initiation\(s\) sent, no answer: the peer is down, its address or port is wrong/,
    );
  }],
  ["legacy: the client holds the wrong server key", 237, async ({ pair, dir, procs }) => {
    Deno.writeFileSync(`${dir}/na`, new Uint8Array(4));
    Deno.writeFileSync(`${dir}/nb`, new Uint8Array(4));
    const legacy = (n: string) => ["--protocol", "legacy", "--nonce-file", `${dir}/${n}`];
    const b = startEnd(pair, dir, "b", { verbose: false, extra: legacy("nb") });
    procs.push(b);
    const a = startEnd(pair, dir, "a", { peerKey: "c", verbose: false, extra: legacy("na") });
    procs.push(a);
    const lb = await line(b, LEGACY);
    assert.match(
      lb,
      /failed to open: the peer's key is not the one in THEIRPUB, or it holds another key for us/,
    );
  }],
];

Deno.test({
  name: "diagnosis: wrong key, wrong PSK, absent server, legacy wrong key: the cause in one line within 25 s",
  ignore: !isRoot(),
  async fn() {
    const started = Date.now();
    await Promise.all(cases.map(([what, id, body]) =>
      withBed({ id }, "tappet-ops-dg-", async (bed) => {
        await keys(bed.dir);
        for (const p of ["p1", "p2"]) {
          const argv = tappetArgv(["genpsk", `${bed.dir}/${p}.psk`]);
          assert((await new Deno.Command(argv[0], { args: argv.slice(1) }).output()).success);
        }
        try {
          await body(bed);
        } catch (e) {
          throw new Error(`${what}: ${(e as Error).message}`);
        }
        for (const p of bed.procs) {
          // Said once (the next one is 5 minutes later), and not before 15 s.
          const said = linesMatching(
            p.text(),
            /warning: (no handshake completed|nothing from the peer opened)/,
          );
          assert(said.length <= 1, `${what}: said more than once:\n${p.text()}`);
          for (const l of said) assert(Number(/in (\d+) s/.exec(l)![1]) >= 15, l);
        }
      })
    ));
    assert(Date.now() - started < 60_000, "the four beds ran at once");
  },
});

bedTest(
  "diagnosis: a working tunnel logs its session at -v and no warning",
  238,
  "tappet-ops-ok-",
  async ({ pair, dir, procs }) => {
    const { a, b } = await startBoth({ pair, dir, procs });
    await a.waitFor(/session started with/);
    await b.waitFor(/session started with/);
    await new Promise((r) => setTimeout(r, 17_000));
    for (const p of [a, b]) assert.doesNotMatch(p.text(), /no handshake completed|warning: .*mac1/);
  },
);
