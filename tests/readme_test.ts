/**
 * The README's "Usage on two hosts", followed literally: its commands are
 * read from README.md (so this fails when the README drifts) and run as
 * written, with the `tappet` command scripts/install.sh installs, the root
 * steps as root and the rest as an ordinary user (the README's `someuser`),
 * in two network namespaces X and Y joined by a veth pair.
 *
 * Only the addresses are mapped, to the ranges the tests use: the server's
 * 192.0.2.34 to Y's underlay address, the overlay 10.99.0.N to 198.19.N'.
 * Needs root.
 */

import { strict as assert } from "node:assert";
import { sh } from "../scripts/netns.ts";
import { NsProcess } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { TEST_USER } from "./_cli.ts";
import { asUser, emptyHome, install, output } from "./_install.ts";

const README = Deno.readTextFileSync(new URL("../README.md", import.meta.url));

/** The code blocks of a README section (indented by 4), comments dropped. */
export function codeBlocks(heading: string, until: string): string[][] {
  const section = README.split(`\n${heading}\n`)[1]?.split(`\n${until}`)[0];
  assert.ok(section !== undefined, `README has no section ${heading}`);
  const blocks: string[][] = [];
  let current: string[] | undefined;
  for (const line of section.split("\n")) {
    if (line.startsWith("    ")) {
      (current ??= []).push(line.slice(4));
    } else if (line.trim() !== "" && current) {
      blocks.push(current);
      current = undefined;
    }
  }
  if (current) blocks.push(current);
  return blocks;
}

const ID = 244;
const UNDERLAY = { X: `198.18.${ID}.1`, Y: `198.18.${ID}.2` };
const map = (line: string): string =>
  line.replaceAll("192.0.2.34", UNDERLAY.Y).replace(/\b10\.99\.0\.(\d+)/g, `198.19.${ID}.$1`);

type Host = "X" | "Y";

/** Two hosts as the README's step 1 makes them (its root commands run in
 * each namespace) and its step 2 (keygen as the user, .pub files swapped),
 * with the installed command; `body` then runs; everything is removed. */
async function twoHosts(
  body: (
    run: (h: Host, line: string) => NsProcess,
    sh1: (h: Host, line: string) => Promise<void>,
    start: string[],
  ) => Promise<void>,
) {
  const blocks = codeBlocks("## Usage on two hosts", "### ");
  assert.equal(blocks.length, 3, "TAP interfaces, keys, start");
  const [taps, keys, start] = blocks;
  const rootLines = taps.map((l) => l.replace(/\s+#.*$/, ""));
  assert.match(rootLines[0], /^ip tuntap add tappet0 mode tap user someuser$/);
  const other = /on X; (\S+) on Y/.exec(taps.join("\n"))?.[1];
  assert.ok(other, "the README says which address Y's TAP gets");

  const inst = await install();
  const ns = { X: `tptrdmX${Deno.pid}`, Y: `tptrdmY${Deno.pid}` };
  const homes = { X: await emptyHome(), Y: await emptyHome() };
  const procs: NsProcess[] = [];
  const sh1 = async (h: Host, line: string) => {
    const o = await output(asUser(inst, homes[h], map(line), ns[h]));
    assert.equal(o.code, 0, `${h}$ ${line}: ${o.err}`);
  };
  const run = (h: Host, line: string) => {
    const p = new NsProcess(
      ns[h],
      asUser(inst, homes[h], `${map(line)} -v`, undefined, true),
      `${homes[h]}/tappet.log`,
    );
    procs.push(p);
    return p;
  };
  try {
    await sh(["ip", "netns", "add", ns.X]);
    await sh(["ip", "netns", "add", ns.Y]);
    await sh(["ip", "-n", ns.X, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", ns.Y]);
    for (const h of ["X", "Y"] as const) {
      const ip = ["ip", "-n", ns[h]];
      await sh([...ip, "link", "set", "lo", "up"]);
      await sh([...ip, "addr", "add", `${UNDERLAY[h]}/24`, "dev", "ul0"]);
      await sh([...ip, "link", "set", "ul0", "up"]);
      // 1. As root, on both hosts.
      for (const line of rootLines) {
        let cmd = line.replace("someuser", TEST_USER);
        if (h === "Y") cmd = cmd.replace(/\b10\.99\.0\.1\/24\b/, other);
        await sh(["ip", "netns", "exec", ns[h], "sh", "-c", map(cmd)]);
      }
    }
    // 2. Keys, as the user, then each .pub to the other host.
    for (const h of ["X", "Y"] as const) {
      for (const line of byHost(keys, h)) {
        const o = await output(asUser(inst, homes[h], map(line), ns[h]));
        assert.equal(o.code, 0, `${h}$ ${line}: ${o.err}`);
        assert.match(o.out, /public key is in .*\.pub/);
      }
    }
    Deno.copyFileSync(`${homes.X}/X.pub`, `${homes.Y}/X.pub`);
    Deno.copyFileSync(`${homes.Y}/Y.pub`, `${homes.X}/Y.pub`);
    await sh(["chown", TEST_USER, `${homes.Y}/X.pub`, `${homes.X}/Y.pub`]);
    await body(run, sh1, start);
    for (const p of procs) {
      const user = (await sh(["ps", "-o", "user=", "-p", String(p.pid)])).trim();
      assert.equal(user, TEST_USER, "tappet runs as the ordinary user");
    }
    for (const p of [...procs].reverse()) assert.equal((await p.stop("SIGTERM")).code, 0, p.text());
    assert.doesNotMatch(procs.map((p) => p.text()).join("\n"), /running as root/);
  } catch (e) {
    for (const p of procs) console.error(`--- ${p.log}\n${p.text().slice(-2000)}`);
    throw e;
  } finally {
    for (const p of procs) await p.stop("SIGKILL", 1000);
    for (const n of Object.values(ns)) await sh(["ip", "netns", "del", n], { allowFail: true });
    for (const h of Object.values(homes)) Deno.removeSync(h, { recursive: true });
    await inst.remove();
  }
}

/** The lines of `lines` for host `h` ("X$ ..."), without prompt or comment. */
function byHost(lines: string[], h: Host): string[] {
  return lines.filter((l) => l.startsWith(`${h}$ `)).map((l) => l.slice(3).replace(/\s+#.*$/, ""));
}

/** Runs the README's ping check from X until it answers (10 tries). */
async function pings(sh1: (h: Host, line: string) => Promise<void>, check: string) {
  for (let i = 0; i < 9; i++) {
    try {
      return await sh1("X", check);
    } catch { /* the tunnel may still be starting */ }
  }
  await sh1("X", check);
}

Deno.test({
  name: "README: the usage on two hosts, as it is written, as an ordinary user, with the installed command",
  ignore: !isRoot(),
  fn: () =>
    twoHosts(async (run, sh1, start) => {
      const [server, ...serverRest] = byHost(start, "Y");
      const [client, ...checks] = byHost(start, "X");
      assert.equal(serverRest.length, 0);
      assert.match(server, /^tappet run .*--listen/);
      assert.match(client, /^tappet run .*--connect/);
      const y = run("Y", server);
      await y.waitFor(new RegExp(`listening on ${UNDERLAY.Y}:41011`));
      run("X", client);
      assert.ok(
        checks.length > 0 && checks.every((c) => c.startsWith("ping ")),
        "the README's check is a ping",
      );
      for (const check of checks) await pings(sh1, check);
    }),
});

Deno.test({
  name: "README: the 2014 command line of 'With a 2014 tappet', as it is written",
  ignore: !isRoot(),
  fn: () =>
    twoHosts(async (run, sh1, start) => {
      const [block] = codeBlocks("### With a 2014 tappet: the legacy format", "The same in named options");
      const setup = block.filter((l) => !/^[XY]\$ /.test(l));
      assert.deepEqual(setup, ["dd if=/dev/zero of=nonce bs=1 count=4"]);
      for (const h of ["X", "Y"] as const) await sh1(h, `${setup[0]} 2>/dev/null`);
      const [server] = byHost(block, "Y");
      const [client] = byHost(block, "X");
      assert.match(server, /^tappet tappet0 ~\/nonce .* -l$/);
      run("Y", server);
      await new Promise((r) => setTimeout(r, 1000));
      run("X", client);
      await pings(sh1, byHost(start, "X").find((l) => l.startsWith("ping "))!);
    }),
});
