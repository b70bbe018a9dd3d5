/**
 * io/resolve.ts: `--connect` values with names, resolution at start, and
 * re-resolution while the peer is silent. The system resolver is checked in
 * a network namespace of the test's own, whose hosts file
 * (/etc/netns/NS/hosts, which `ip netns exec` mounts over /etc/hosts) the
 * test writes and changes; the namespace has no interface up, so no query
 * leaves it.
 */

import { strict as assert } from "node:assert";
import { parseConnect, RERESOLVE_AFTER_MS, Reresolver, type Resolved, resolvePeer } from "../io/resolve.ts";
import { UserError } from "../errors.ts";
import { isRoot } from "./_util.ts";

Deno.test("parseConnect: addresses as before, names with a port", () => {
  for (
    const [input, value] of [
      ["198.18.0.1:1011", { host: "198.18.0.1", port: 1011, family: 4 }],
      ["[2001:db8::1]:1011", { host: "2001:db8::1", port: 1011, family: 6 }],
      ["VPN.Example.com.:1011", { name: "vpn.example.com", port: 1011 }],
      ["localhost:7", { name: "localhost", port: 7 }],
    ] as const
  ) {
    assert.deepEqual(parseConnect(input), { ok: true, value }, input);
  }
  for (
    const [input, error] of [
      ["vpn.example.com", /add the port, as in vpn\.example\.com:1011/],
      ["vpn.example.com:0", /out of range/],
      ["vpn.example.com:http", /is not a number/],
      ["vpn_example.com:1011", /is not an address or a host name/],
      ["-vpn.com:1011", /is not an address or a host name/],
      ["300.1.1.1:1011", /not an IPv4 or IPv6 literal/],
      ["2001:db8::1:1011", /IPv6 address goes in brackets/],
      [`${"a".repeat(64)}.com:1011`, /is not an address or a host name/],
    ] as const
  ) {
    const r = parseConnect(input);
    assert(!r.ok, input);
    assert.match(r.error, error, input);
  }
});

Deno.test("resolvePeer: an address as is, a name to its first address, a bad name one line", async () => {
  const table: Record<string, Resolved[]> = {
    "vpn.example.com": [{ host: "198.18.5.5", family: 4 }, { host: "2001:db8::5", family: 6 }],
  };
  const fake = (name: string, family?: 4 | 6) => {
    const all = table[name];
    if (!all) return Promise.reject(Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" }));
    return Promise.resolve(all.filter((a) => family === undefined || a.family === family));
  };
  assert.deepEqual(await resolvePeer({ host: "198.18.0.1", family: 4, port: 1 }, undefined, fake), {
    host: "198.18.0.1",
    port: 1,
    family: 4,
  });
  assert.deepEqual(await resolvePeer({ name: "vpn.example.com", port: 1011 }, undefined, fake), {
    host: "198.18.5.5",
    port: 1011,
    family: 4,
  });
  assert.deepEqual(await resolvePeer({ name: "vpn.example.com", port: 1011 }, 6, fake), {
    host: "2001:db8::5",
    port: 1011,
    family: 6,
  });
  await assert.rejects(
    resolvePeer({ name: "nope.example.com", port: 1011 }, undefined, fake),
    (e: unknown) =>
      e instanceof UserError &&
      e.message ===
        "host name nope.example.com does not resolve (no such name): check the name, /etc/hosts and DNS, or give an address",
  );
});

Deno.test("Reresolver: only after the silence, follows a move, keeps the last address when the name fails", async () => {
  let answer: Resolved[] | Error = [{ host: "198.18.1.1", family: 4 }];
  const asked: (4 | 6 | undefined)[] = [];
  const moved: string[] = [];
  const failed: string[] = [];
  const r = new Reresolver({
    name: "vpn.example.com",
    start: { host: "198.18.1.1", port: 1011, family: 4 },
    silenceMs: RERESOLVE_AFTER_MS.current,
    resolve: (_name, family) => {
      asked.push(family);
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
    events: {
      moved: (to, from) => moved.push(`${from.hostname} -> ${to.hostname}:${to.port}`),
      failed: (m) => failed.push(m),
    },
  });
  const t0 = 1_000_000;
  assert.equal(r.tick(t0 + 119_999, t0), undefined, "not silent long enough");
  await r.tick(t0 + 120_000, t0);
  assert.deepEqual(asked, [4]);
  assert.deepEqual(moved, [], "same address: no move");
  answer = [{ host: "198.18.2.2", family: 4 }];
  assert.equal(r.tick(t0 + 200_000, t0), undefined, "one lookup per silence interval");
  await r.tick(t0 + 240_000, t0);
  assert.deepEqual(moved, ["198.18.1.1 -> 198.18.2.2:1011"]);
  assert.deepEqual(r.current, { hostname: "198.18.2.2", port: 1011 });
  answer = Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" });
  await r.tick(t0 + 360_000, t0);
  assert.deepEqual(failed, [
    "host name vpn.example.com does not resolve now (no such name); keeping 198.18.2.2",
  ]);
  assert.deepEqual(r.current, { hostname: "198.18.2.2", port: 1011 });
  assert.equal(r.tick(t0 + 480_000, t0 + 400_000), undefined, "the peer spoke: no lookup");
  assert.equal(RERESOLVE_AFTER_MS.legacy, 30_000);
});

const NS = `tappet-res-${Deno.pid}`;

async function run(cmd: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

/** Runs `code` (a module importing io/resolve.ts as `R`) with Deno inside the namespace. */
function inNamespace(code: string) {
  const url = new URL("../io/resolve.ts", import.meta.url).href;
  const script = `import * as R from ${JSON.stringify(url)};\n${code}`;
  return run("ip", "netns", "exec", NS, Deno.execPath(), "eval", "--quiet", script);
}

Deno.test({
  name: "system resolver in a namespace: /etc/netns/NS/hosts, a changed entry, a vanished name",
  ignore: !isRoot(),
  async fn() {
    const hosts = `/etc/netns/${NS}/hosts`;
    assert.equal((await run("ip", "netns", "add", NS)).code, 0);
    try {
      Deno.mkdirSync(`/etc/netns/${NS}`, { recursive: true });
      Deno.writeTextFileSync(
        hosts,
        "127.0.0.1 localhost\n198.18.40.1 vpn.tappet.test\n2001:db8::40 vpn6.tappet.test\n",
      );
      const start = await inNamespace(
        `console.log(JSON.stringify(await R.resolvePeer(R.parseConnect("vpn.tappet.test:1011").value)));
         console.log(JSON.stringify(await R.resolvePeer(R.parseConnect("vpn6.tappet.test:1011").value)));`,
      );
      assert.equal(start.code, 0, start.err);
      assert.deepEqual(start.out.trim().split("\n").map((l) => JSON.parse(l)), [
        { host: "198.18.40.1", port: 1011, family: 4 },
        { host: "2001:db8::40", port: 1011, family: 6 },
      ]);
      const missing = await inNamespace(
        `try { await R.resolvePeer({ name: "absent.tappet.test", port: 1 }); } catch (e) { console.log(e.message); }`,
      );
      assert.match(
        missing.out.trim(),
        /^host name absent\.tappet\.test does not resolve \(.+\): check the name/,
      );
      // One process follows the entry as the test edits the hosts file in
      // place (the namespace's mount shows the same file).
      const follow = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          NS,
          Deno.execPath(),
          "eval",
          "--quiet",
          `
          import * as R from ${JSON.stringify(new URL("../io/resolve.ts", import.meta.url).href)};
          const start = await R.resolvePeer({ name: "vpn.tappet.test", port: 1011 });
          console.log("start " + start.host);
          const r = new R.Reresolver({ name: "vpn.tappet.test", start, silenceMs: 10, events: {
            moved: (to) => console.log("moved " + to.hostname), failed: (m) => console.log("failed " + m) } });
          const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
          let t = 0;
          for await (const chunk of lines) for (const _ of chunk.split("\\n").slice(1)) {
            t += 100; await r.tick(t, 0); console.log("current " + r.current.hostname);
          }`,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = follow.stdin.getWriter();
      const reader = follow.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let said = "";
      while (!said.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        said += value;
      }
      assert.equal(said, "start 198.18.40.1\n");
      const step = async (content: string) => {
        Deno.writeTextFileSync(hosts, content);
        await w.write(new TextEncoder().encode("next\n"));
        await new Promise((r) => setTimeout(r, 1500));
      };
      await step("198.18.41.1 vpn.tappet.test\n");
      await step("127.0.0.1 localhost\n");
      await w.close();
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        said += value;
      }
      await follow.status;
      const lines = said.trim().split("\n").slice(1);
      assert.equal(lines[0], "moved 198.18.41.1", lines.join(" | "));
      assert.equal(lines[1], "current 198.18.41.1");
      assert.match(
        lines[2],
        /^failed host name vpn\.tappet\.test does not resolve now \(.+\); keeping 198\.18\.41\.1$/,
      );
      assert.equal(lines[3], "current 198.18.41.1");
    } finally {
      await run("ip", "netns", "del", NS);
      Deno.removeSync(`/etc/netns/${NS}`, { recursive: true });
    }
  },
});
