/**
 * `deno task demo`: a tappet tunnel between two network namespaces on this
 * machine, step by step, the way a user would set it up on two hosts. Needs
 * root. Cleans up at the end, on error, and on Ctrl-C.
 *
 * @module
 */

import { createPair, type NetnsPair, sh, waitForPing } from "./netns.ts";
import { keygen, NsProcess, runArgs, tappetArgv, transfer } from "./harness.ts";

const ID = 42;
const BYTES = 64 * 1024 * 1024;

const bold = (s: string) => (Deno.stdout.isTerminal() ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => console.log(`\n${bold(`== ${s}`)}`);
const show = (ns: string, argv: string[]) => console.log(`  [${ns}] $ ${argv.join(" ")}`);

let pair: NetnsPair | undefined;
let dir: string | undefined;
const procs: NsProcess[] = [];
let cleaned = false;

async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  for (const p of procs) await p.stop("SIGTERM", 3000);
  await pair?.destroy();
  if (dir) Deno.removeSync(dir, { recursive: true });
}

function onSignal(): void {
  console.log("\ninterrupted: cleaning up");
  cleanup().finally(() => Deno.exit(130));
}

async function demo(): Promise<void> {
  if (Deno.uid() !== 0) throw new Error("the demo makes network namespaces: run it as root");
  step("Two hosts: network namespaces tappet-demo-a and tappet-demo-b, joined by a veth pair");
  pair = await createPair({ id: ID, prefix: "tappet-demo", mtu: 1434 });
  const { a, b } = pair;
  console.log(`  underlay: ${a.underlay} (a) <-> ${b.underlay} (b), MTU 1500`);
  console.log(
    `  TAP tp0 on each: overlay ${a.overlay} (a) and ${b.overlay} (b), MTU ${pair.mtu} (1500 − 98)`,
  );

  dir = Deno.makeTempDirSync({ prefix: "tappet-demo-" });
  step("Keys: tappet keygen on each host; each copies its .pub to the other");
  for (const name of ["a", "b"]) {
    show(name === "a" ? a.ns : b.ns, ["tappet", "keygen", `${dir}/${name}`]);
    await keygen(dir, [name]);
  }
  console.log(await sh(["ls", "-l", dir]));

  step("The current format: start the server on b (--listen), then the client on a (--connect)");
  const keys = dir;
  const common = (me: string, peer: string) => runArgs(keys, me, peer);
  await session(
    [...common("b", "a"), "--listen", `${b.underlay}:1011`, "-v"],
    [...common("a", "b"), "--connect", `${b.underlay}:1011`, "-v"],
    BYTES,
  );
  await pair.destroy();

  step("The legacy format, to tunnel with a 2014 tappet: the 2014 command line, unchanged");
  pair = await createPair({ id: ID, prefix: "tappet-demo" }); // TAP MTU 1402 for its 56 bytes per frame
  for (const name of ["a", "b"]) {
    Deno.writeFileSync(`${dir}/nonce-${name}`, new Uint8Array(4));
    show(name === "a" ? a.ns : b.ns, ["dd", "if=/dev/zero", `of=${dir}/nonce-${name}`, "bs=1", "count=4"]);
  }
  await session(
    [b.tap, `${dir}/nonce-b`, `${dir}/b.key`, `${dir}/a.pub`, b.underlay, "1011", "-l", "-v"],
    [a.tap, `${dir}/nonce-a`, `${dir}/a.key`, `${dir}/b.pub`, b.underlay, "1011", "-v"],
    BYTES / 4,
  );
  const prefix = (n: string) =>
    new DataView(Deno.readFileSync(`${dir}/nonce-${n}`).buffer).getUint32(0, true);
  console.log(
    `  nonce files now hold ${prefix("a")} (a) and ${prefix("b")} (b): the next run uses a larger prefix`,
  );
}

/** Starts server and client, pings both ways, transfers `bytes`, stops both. */
async function session(server: string[], client: string[], bytes: number): Promise<void> {
  const { a, b } = pair!;
  show(b.ns, ["tappet", ...server]);
  procs.push(new NsProcess(b.ns, tappetArgv(server), `${dir}/b.log`));
  show(a.ns, ["tappet", ...client]);
  procs.push(new NsProcess(a.ns, tappetArgv(client), `${dir}/a.log`));
  if (!await waitForPing(a.ns, b.overlay)) throw new Error("the tunnel did not come up within 15 s");

  step(`Ping through the tunnel, a -> b (${b.overlay})`);
  console.log(await pair!.exec(a.ns, ["ping", "-c", "4", "-i", "0.2", b.overlay]));
  const size = String(pair!.mtu - 28);
  step(`Ping with full-size frames and DF set, b -> a (${size} bytes of ICMP payload, TAP MTU ${pair!.mtu})`);
  console.log(await pair!.exec(b.ns, ["ping", "-c", "3", "-i", "0.2", "-M", "do", "-s", size, a.overlay]));

  step(`TCP transfer of ${bytes / 1048576} MiB from a to b through the tunnel, checked by SHA-256`);
  const t = await transfer(pair!, bytes);
  const same = t.sent.sha256 === t.received.sha256 && t.sent.bytes === t.received.bytes;
  console.log(`  sent     ${t.sent.bytes} bytes, sha256 ${t.sent.sha256}`);
  console.log(
    `  received ${t.received.bytes} bytes, sha256 ${t.received.sha256}  ${
      same ? "(identical)" : "(DIFFERENT!)"
    }`,
  );
  console.log(`  throughput: ${t.mbps.toFixed(0)} Mbit/s over ${t.received.seconds.toFixed(2)} s`);
  if (!same) throw new Error("the transfer arrived damaged");

  step("Stop both ends (SIGTERM) and read what they logged");
  for (const p of procs.splice(0)) {
    const status = await p.stop("SIGTERM");
    console.log(`  ${p.log.endsWith("a.log") ? "client a" : "server b"} exited with status ${status.code}:`);
    for (const line of p.text().trim().split("\n")) console.log(`    ${line}`);
  }
}

if (import.meta.main) {
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let status = 0;
  try {
    await demo();
    step("Done: both formats carried ARP, ICMP and TCP between the two namespaces");
  } catch (e) {
    console.error(`demo failed: ${(e as Error).message}`);
    for (const p of procs) console.error(`--- ${p.log}\n${p.text()}`);
    status = 1;
  } finally {
    await cleanup();
  }
  Deno.exit(status);
}
