/**
 * The systemd units running for real: a minimal Debian (debootstrap, from the
 * machine's own apt source) booted with systemd as PID 1 in systemd-nspawn,
 * inside a network namespace of the test bed; the package installed in it;
 * then tappet-legacy@old from a 2014-style /var/lib/tappet/old.env and
 * tappet@vpn from /etc/tappet/vpn.toml each carry pings to a tappet started
 * from this source tree in the other namespace. Checked: the tunnel runs as
 * the tappet user with CAP_NET_BIND_SERVICE alone (port 1011), under the
 * seccomp filter and NoNewPrivileges, on the TAP the unit made, which is gone
 * after the stop. Root only; ignored without debootstrap and systemd-nspawn
 * (apt packages `debootstrap`, `systemd-container`). Takes about two minutes,
 * most of it debootstrap; everything is deleted afterwards.
 *
 * @module
 */

import { strict as assert } from "node:assert";
import denoJson from "../deno.json" with { type: "json" };
import { isRoot } from "./_util.ts";
import { createPair, type NetnsPair, sh, waitForPing } from "../scripts/netns.ts";
import { MAIN, NsProcess, runArgs } from "../scripts/harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const PAIR_ID = 217;
const CAP_NET_BIND_SERVICE = (1 << 10).toString(16).padStart(16, "0"); // <linux/capability.h>: 10
const have = (cmd: string) =>
  new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).outputSync().success;

/** The machine's own Debian mirror and release, from its apt sources. */
function aptSource(): { mirror: string; suite: string } {
  const suite = /^VERSION_CODENAME=(\S+)$/m.exec(Deno.readTextFileSync("/etc/os-release"))?.[1];
  const texts: string[] = [];
  for (const dir of ["/etc/apt/sources.list.d"]) {
    for (const e of Deno.readDirSync(dir)) if (e.name.endsWith(".sources")) texts.push(`${dir}/${e.name}`);
  }
  for (const f of texts) {
    const t = Deno.readTextFileSync(f);
    const uri = /^URIs:\s*(\S+)/m.exec(t)?.[1];
    if (uri && suite && new RegExp(`^Suites:.*\\b${suite}\\b`, "m").test(t) && !uri.includes("security")) {
      return { mirror: uri, suite };
    }
  }
  const list = Deno.readTextFileSync("/etc/apt/sources.list");
  const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+main/m.exec(list);
  assert.ok(m, "no Debian apt source found");
  return { mirror: m[1], suite: suite ?? m[2] };
}

/** A booted container: run commands in it with {@linkcode Container.exec}. */
class Container {
  constructor(readonly leader: number, readonly nspawn: Deno.ChildProcess) {}

  async exec(script: string, allowFail = false): Promise<string> {
    return await sh(["nsenter", "-t", String(this.leader), "-a", "--", "/bin/sh", "-ec", script], {
      allowFail,
    });
  }

  async stop(): Promise<void> {
    await this.exec("systemctl poweroff", true).catch(() => {});
    const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 20_000));
    if (await Promise.race([this.nspawn.status, timer]) === "timeout") {
      try {
        this.nspawn.kill("SIGKILL");
      } catch { /* gone */ }
      await this.nspawn.status;
    }
  }
}

async function boot(rootfs: string, pair: NetnsPair): Promise<Container> {
  const nspawn = new Deno.Command("systemd-nspawn", {
    args: [
      "-D",
      rootfs,
      "--boot",
      `--machine=tpt${Deno.pid}`,
      `--network-namespace-path=/run/netns/${pair.a.ns}`,
      "--bind=/dev/net/tun",
      "--capability=CAP_NET_ADMIN", // for the units' ExecStartPre=+ip tuntap add
      "--register=no",
      "--keep-unit",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // PID 1 of the container: the descendant of nspawn that runs systemd.
  const findLeader = (pid: number): number => {
    let kids: number[] = [];
    try {
      kids = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(" ").filter(Boolean).map(
        Number,
      );
    } catch { /* gone */ }
    for (const k of kids) {
      try {
        if (Deno.readTextFileSync(`/proc/${k}/comm`).trim() === "systemd") return k;
      } catch { /* gone */ }
      const deeper = findLeader(k);
      if (deeper) return deeper;
    }
    return 0;
  };
  let c: Container | undefined;
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const leader = c?.leader || findLeader(nspawn.pid);
    if (!leader) continue;
    c = new Container(leader, nspawn);
    const state = (await c.exec("systemctl is-system-running || true", true)).trim();
    if (/^(running|degraded)$/.test(state)) break;
  }
  assert.ok(c, "systemd-nspawn started no container");
  const state = (await c.exec("systemctl is-system-running || true", true)).trim();
  assert.match(state, /^(running|degraded)$/, `the container's systemd did not come up: ${state}`);
  return c;
}

/** The main process of `unit`'s status lines, as a record. */
async function mainStatus(c: Container, unit: string): Promise<Record<string, string>> {
  const text = await c.exec(`cat /proc/$(systemctl show -p MainPID --value ${unit})/status`);
  return Object.fromEntries(
    text.split("\n").filter((l) => l.includes(":")).map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i), l.slice(i + 1).trim()];
    }),
  );
}

Deno.test({
  name: "units under systemd: tappet-legacy@ and tappet@ carry pings as the tappet user, sandboxed",
  // Boots a Debian system in a container (a few minutes, and debootstrap
  // fetches Debian's packages): run on request, TAPPET_SERVICE_TEST=1.
  ignore: Deno.env.get("TAPPET_SERVICE_TEST") !== "1" || !isRoot() || !have("debootstrap") ||
    !have("systemd-nspawn") || !have("dpkg-deb"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "tappet-svc-" });
    const rootfs = `${dir}/rootfs`;
    let pair: NetnsPair | undefined;
    let c: Container | undefined;
    const procs: NsProcess[] = [];
    try {
      const built = await new Deno.Command("bash", {
        args: ["scripts/deb.sh"],
        cwd: ROOT,
        env: { TAPPET_DEB_OUT: dir },
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(built.success, new TextDecoder().decode(built.stderr));
      const arch = (await sh(["dpkg", "--print-architecture"])).trim();
      const { mirror, suite } = aptSource();
      const include = "systemd,systemd-sysv,dbus,libsodium23,iproute2";
      await sh(["debootstrap", "--variant=minbase", `--include=${include}`, suite, rootfs, mirror]);
      Deno.copyFileSync(`${dir}/tappet_${denoJson.version}_${arch}.deb`, `${rootfs}/root/tappet.deb`);

      pair = await createPair({ id: PAIR_ID, tap: false });
      c = await boot(rootfs, pair);
      await c.exec("dpkg -i /root/tappet.deb >/dev/null");
      const host = (await c.exec("uname -n")).trim().split(".")[0];
      const uid = (await c.exec("id -u tappet")).trim();

      // The other end: this source tree, as root, in namespace b.
      await sh(["ip", "-n", pair.b.ns, "tuntap", "add", "tp0", "mode", "tap"]);
      await sh(["ip", "-n", pair.b.ns, "addr", "add", `${pair.b.overlay}/24`, "dev", "tp0"]);
      await sh(["ip", "-n", pair.b.ns, "link", "set", "tp0", "mtu", "1402", "up"]);
      const run = ["deno", "run", "--allow-all", MAIN];
      await new Deno.Command("deno", { args: ["run", "--allow-all", MAIN, "keygen", "peer"], cwd: dir })
        .output();
      Deno.copyFileSync(`${dir}/peer.pub`, `${rootfs}/var/lib/tappet/peer.pub`);
      Deno.copyFileSync(`${rootfs}/var/lib/tappet/${host}.pub`, `${dir}/server.pub`);
      Deno.writeFileSync(`${dir}/nonce`, new Uint8Array(4));
      // Starts the other end with `args` (its log `${dir}/LOG.log`) and waits
      // for a ping to cross to `unit`'s end; then `unit`'s main process,
      // checked to run as the tappet user.
      const [bNs, aOverlay, container] = [pair.b.ns, pair.a.overlay, c];
      const peerReaches = async (args: string[], log: string, unit: string) => {
        procs.push(new NsProcess(bNs, [...run, ...args], `${dir}/${log}.log`));
        assert.ok(await waitForPing(bNs, aOverlay, 30), `no ping: ${await journal(container, unit)}`);
        const s = await mainStatus(container, unit);
        assert.equal(s.Uid, `${uid}\t${uid}\t${uid}\t${uid}`);
        return s;
      };

      // A 2014 installation's files, as the 2014 unit used them.
      const lib = `${rootfs}/var/lib/tappet`;
      Deno.writeFileSync(`${lib}/old.nonce`, new Uint8Array(4));
      Deno.writeTextFileSync(
        `${lib}/old.env`,
        `NONCE=/var/lib/tappet/old.nonce\nKEY=/var/lib/tappet/${host}.key\nPUB=/var/lib/tappet/peer.pub\n` +
          `ADDR=${pair.a.underlay}\nPORT=1011\nMODE=-l\n`,
      );
      const up = (iface: string) =>
        `#!/bin/sh\nip addr add ${pair!.a.overlay}/24 dev ${iface} && ip link set ${iface} mtu 1402 up\n`;
      Deno.writeTextFileSync(`${lib}/old-pre.sh`, up("tappet-old"), { mode: 0o755 });
      await c.exec("chown tappet:tappet /var/lib/tappet/*; systemctl start tappet-legacy@old");
      const s = await peerReaches(
        ["tp0", `${dir}/nonce`, `${dir}/peer.key`, `${dir}/server.pub`, pair.a.underlay, "1011"],
        "legacy",
        "tappet-legacy@old",
      );
      assert.deepEqual([s.CapEff, s.CapPrm, s.CapBnd], [
        CAP_NET_BIND_SERVICE,
        CAP_NET_BIND_SERVICE,
        CAP_NET_BIND_SERVICE,
      ]);
      assert.equal(s.NoNewPrivs, "1");
      assert.equal(s.Seccomp, "2");
      await procs.pop()!.stop();
      await c.exec("systemctl stop tappet-legacy@old");
      assert.doesNotMatch(await c.exec("ip -br link"), /tappet-old/, "the TAP outlived the unit");

      // tappet@vpn from /etc/tappet/vpn.toml (an ExecStart= drop-in with the
      // same options while `tappet run` takes no --config yet).
      Deno.writeTextFileSync(
        `${rootfs}/etc/tappet/vpn.toml`,
        `key = "/var/lib/tappet/${host}.key"\npeer-key = "/var/lib/tappet/peer.pub"\n` +
          `listen = "${pair.a.underlay}:1011"\n`,
      );
      Deno.writeTextFileSync(`${rootfs}/etc/tappet/vpn.up`, up('"$1"'), { mode: 0o755 });
      if (!(await c.exec("tappet run --help 2>&1 || true")).includes("--config")) {
        Deno.mkdirSync(`${rootfs}/etc/systemd/system/tappet@vpn.service.d`, { recursive: true });
        Deno.writeTextFileSync(
          `${rootfs}/etc/systemd/system/tappet@vpn.service.d/no-config.conf`,
          `[Service]\nExecStart=\nExecStart=/usr/bin/tappet run --tap tappet-%i --key /var/lib/tappet/${host}.key ` +
            `--peer-key /var/lib/tappet/peer.pub --listen ${pair.a.underlay}:1011\n`,
        );
      }
      await c.exec(
        "chgrp tappet /etc/tappet/vpn.toml; chmod 0640 /etc/tappet/vpn.toml; systemctl daemon-reload",
      );
      await c.exec("systemctl start tappet@vpn");
      const v = await peerReaches(
        [...runArgs(dir, "peer", "server"), "--connect", `${pair.a.underlay}:1011`],
        "current",
        "tappet@vpn",
      );
      assert.equal(v.CapEff, CAP_NET_BIND_SERVICE);
      await c.exec("systemctl stop tappet@vpn");
      assert.doesNotMatch(await c.exec("ip -br link"), /tappet-vpn/);
      assert.match(await journal(c, "tappet@vpn"), /Deactivated successfully/);
    } finally {
      for (const p of procs) await p.stop();
      await c?.stop();
      await pair?.destroy();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

async function journal(c: Container, unit: string): Promise<string> {
  return await c.exec(`journalctl -u ${unit} --no-pager -o cat | tail -n 20`, true);
}
