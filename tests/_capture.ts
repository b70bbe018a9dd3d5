/**
 * Watching and forging underlay traffic in the integration tests: capture
 * datagrams with tcpdump, and send arbitrary ones from a namespace.
 */

import { denoRunIn } from "../scripts/netns.ts";
import { NsProcess } from "../scripts/harness.ts";

/** UDP payloads of the datagrams in a pcap file (Ethernet, IPv4). */
export function udpPayloads(pcap: Uint8Array): Uint8Array[] {
  const view = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  const little = view.getUint32(0, true) === 0xa1b2c3d4;
  const out: Uint8Array[] = [];
  for (let off = 24; off + 16 <= pcap.length;) {
    const caplen = view.getUint32(off + 8, little);
    const frame = pcap.subarray(off + 16, off + 16 + caplen);
    off += 16 + caplen;
    if (frame.length < 42 || frame[12] !== 0x08 || frame[13] !== 0x00) continue;
    const ihl = (frame[14] & 0x0f) * 4;
    if (frame[14 + 9] !== 17) continue;
    out.push(frame.subarray(14 + ihl + 8));
  }
  return out;
}

/**
 * Starts capturing `count` packets matching `filter` on `iface` in `ns`;
 * resolves (after `trigger` ran) to their UDP payloads, or throws after
 * `seconds` without them.
 *
 * tcpdump sees a UDP GSO send before it is cut into datagrams: one "packet"
 * may hold several datagrams. Pick single datagrams by their exact UDP
 * length (`udp[4:2] = N`), not by a lower bound.
 */
export async function capture(
  ns: string,
  iface: string,
  filter: string,
  count: number,
  dir: string,
  trigger: () => Promise<unknown>,
  seconds = 10,
): Promise<Uint8Array[]> {
  const file = `${dir}/capture-${Date.now()}.pcap`;
  const dump = new NsProcess(
    ns,
    ["tcpdump", "-i", iface, "-U", "-c", String(count), "-w", file, filter],
    `${file}.log`,
  );
  try {
    await new Promise((r) => setTimeout(r, 1000)); // tcpdump is listening
    await trigger();
    const done = await Promise.race([dump.status, new Promise((r) => setTimeout(r, seconds * 1000))]);
    if (!done) throw new Error(`tcpdump saw fewer than ${count} packets of "${filter}":\n${dump.text()}`);
    return udpPayloads(Deno.readFileSync(file));
  } finally {
    await dump.stop("SIGKILL", 1000);
  }
}

/** Sends each of `datagrams` from namespace `ns` to `host:port`, from
 * `bindHost` (an address of `ns`) and an ephemeral port. */
export async function sendDatagrams(
  ns: string,
  bindHost: string,
  host: string,
  port: number,
  datagrams: Uint8Array[],
  dir: string,
): Promise<void> {
  const file = `${dir}/datagrams-${Date.now()}.json`;
  Deno.writeTextFileSync(file, JSON.stringify(datagrams.map((d) => Array.from(d))));
  const script = `${dir}/send.ts`;
  Deno.writeTextFileSync(
    script,
    `const all = JSON.parse(Deno.readTextFileSync(Deno.args[0]));
     const c = Deno.listenDatagram({ transport: "udp", hostname: Deno.args[1], port: 0 });
     for (const d of all) await c.send(new Uint8Array(d), { transport: "udp", hostname: Deno.args[2], port: Number(Deno.args[3]) });
     c.close();`,
  );
  await denoRunIn(ns, ["-A", "--unstable-net"], script, [file, bindHost, host, String(port)]);
}
