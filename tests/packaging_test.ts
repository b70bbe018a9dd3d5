/**
 * The systemd units in packaging/: `systemd-analyze verify` accepts them with
 * no warning, `systemd-analyze security --offline=yes` rates them 2.5 or lower,
 * and they run what issue 13 says they run. systemd need not be PID 1: the
 * units are checked as files, with /usr/bin/tappet pointed at a stub the test
 * makes (verify refuses a unit whose ExecStart is not executable).
 *
 * @module
 */

import { strict as assert } from "node:assert";

const UNITS = ["tappet@.service", "tappet-legacy@.service"] as const;
const PACKAGING = new URL("../packaging/", import.meta.url);
const MAX_EXPOSURE = 2.5;
const haveAnalyze = (() => {
  try {
    return new Deno.Command("systemd-analyze", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

async function run(args: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command("systemd-analyze", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const d = new TextDecoder();
  return { code: o.code, out: d.decode(o.stdout), err: d.decode(o.stderr) };
}

/** Copies `unit` into `dir` as instance `test`, ExecStart pointed at `bin`,
 * with `edit` applied to its text; returns the instance file's name. */
function instance(dir: string, unit: string, bin: string, edit = (t: string) => t): string {
  const text = Deno.readTextFileSync(new URL(unit, PACKAGING)).replaceAll("/usr/bin/tappet", bin);
  const name = unit.replace("@.", "@test.");
  Deno.writeTextFileSync(`${dir}/${name}`, edit(text));
  return name;
}

async function withStub(fn: (dir: string, bin: string) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "tappet-units-" });
  try {
    const bin = `${dir}/tappet-stub`;
    Deno.writeTextFileSync(bin, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    Deno.chmodSync(bin, 0o755);
    await fn(dir, bin);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function directives(unit: string, key: string): string[] {
  const text = Deno.readTextFileSync(new URL(unit, PACKAGING));
  return text.split("\n").filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

for (const unit of UNITS) {
  Deno.test({
    name: `${unit}: systemd-analyze verify accepts it with no warning`,
    ignore: !haveAnalyze,
    fn: () =>
      withStub(async (dir, bin) => {
        const name = instance(dir, unit, bin);
        const r = await run(["verify", "--man=no", `./${name}`], dir);
        assert.deepEqual(r.err.trim(), "", `verify warned:\n${r.err}`);
        assert.deepEqual(r.code, 0);
      }),
  });

  Deno.test({
    name: `${unit}: systemd-analyze security rates it ${MAX_EXPOSURE} or lower`,
    ignore: !haveAnalyze,
    fn: () =>
      withStub(async (dir, bin) => {
        const name = instance(dir, unit, bin);
        const r = await run(["security", "--offline=yes", "--no-pager", `./${name}`], dir);
        const m = r.out.match(/Overall exposure level for \S+: (\d+\.\d)/);
        assert(m, `no "Overall exposure level" line in:\n${r.out}\n${r.err}`);
        const level = Number(m[1]);
        assert(level <= MAX_EXPOSURE, `exposure ${level} > ${MAX_EXPOSURE}:\n${r.out}`);
      }),
  });

  Deno.test(`${unit}: runs as tappet with CAP_NET_BIND_SERVICE only, restarts on failure`, () => {
    assert.deepEqual(directives(unit, "User"), ["tappet"]);
    assert.deepEqual(directives(unit, "CapabilityBoundingSet"), ["CAP_NET_BIND_SERVICE"]);
    assert.deepEqual(directives(unit, "AmbientCapabilities"), ["CAP_NET_BIND_SERVICE"]);
    assert.deepEqual(directives(unit, "Restart"), ["on-failure"]);
    assert.deepEqual(directives(unit, "RuntimeDirectory"), ["tappet"]);
    assert.deepEqual(directives(unit, "DeviceAllow"), ["/dev/net/tun rw"]);
    assert.deepEqual(directives(unit, "RestrictAddressFamilies"), ["AF_INET AF_INET6 AF_UNIX AF_NETLINK"]);
    const pre = directives(unit, "ExecStartPre");
    assert(pre.includes("+/sbin/ip tuntap add tappet-%i mode tap user tappet group tappet"), pre.join("\n"));
    assert(directives(unit, "ExecStopPost").includes("+/sbin/ip tuntap del tappet-%i mode tap"));
  });
}

Deno.test("the two units run the command lines of issue 13", () => {
  assert.deepEqual(directives("tappet@.service", "ExecStart"), [
    "/usr/bin/tappet run --config /etc/tappet/%i.toml --tap tappet-%i",
  ]);
  // The 2014 unit's own line, with the 2014 binary's path replaced.
  assert.deepEqual(directives("tappet-legacy@.service", "ExecStart"), [
    "/usr/bin/tappet tappet-%i $NONCE $KEY $PUB $ADDR $PORT $MODE",
  ]);
  assert.deepEqual(directives("tappet-legacy@.service", "EnvironmentFile"), ["/var/lib/tappet/%i.env"]);
});

Deno.test("both units share one sandbox, word for word", () => {
  const sandbox = (u: string) => {
    const t = Deno.readTextFileSync(new URL(u, PACKAGING));
    return t.slice(t.indexOf("# Sandbox:"), t.indexOf("[Install]"));
  };
  assert.match(sandbox(UNITS[0]), /ProtectSystem=strict/);
  assert.deepEqual(sandbox(UNITS[0]), sandbox(UNITS[1]));
});

// The checks above must be able to fail: a broken unit is refused.
Deno.test({
  name: "the verify check refuses a broken unit and a missing binary",
  ignore: !haveAnalyze,
  fn: () =>
    withStub(async (dir, bin) => {
      const bad = instance(dir, UNITS[0], bin, (t) => t.replace("Restart=on-failure", "Restart=sometimes"));
      const r1 = await run(["verify", "--man=no", `./${bad}`], dir);
      assert.match(r1.err, /Restart|restart/);
      const missing = instance(dir, UNITS[1], `${dir}/absent`);
      const r2 = await run(["verify", "--man=no", `./${missing}`], dir);
      assert(r2.code !== 0, "verify accepted a unit whose ExecStart does not exist");
      const loose = instance(
        dir,
        UNITS[0],
        bin,
        (t) =>
          t.slice(0, t.indexOf("# Sandbox:")).replace("User=tappet\n", "") + t.slice(t.indexOf("[Install]")),
      );
      const r3 = await run(["security", "--offline=yes", "--no-pager", `./${loose}`], dir);
      const level = Number(r3.out.match(/Overall exposure level for \S+: (\d+\.\d)/)?.[1]);
      assert(level > MAX_EXPOSURE, `a unit running as root with no sandbox rated ${level}`);
    }),
});

const CHECK_WORKFLOWS = [
  "run",
  "--no-config",
  "--frozen",
  `--lock=${new URL("../scripts/check_workflows.lock", import.meta.url).pathname}`,
  "--allow-read",
  new URL("../scripts/check_workflows.ts", import.meta.url).pathname,
];

Deno.test("the workflow validator accepts ci.yml and release.yml and refuses a broken workflow", async () => {
  const ok = await new Deno.Command(Deno.execPath(), {
    args: CHECK_WORKFLOWS,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  assert.ok(ok.success, new TextDecoder().decode(ok.stderr));
  const dir = Deno.makeTempDirSync({ prefix: "tappet-wf-" });
  try {
    const text = Deno.readTextFileSync(new URL("../.github/workflows/ci.yml", import.meta.url));
    const broken = `${dir}/ci.yml`;
    Deno.writeTextFileSync(broken, text.replace(/^ {4}runs-on: .*\n/m, ""));
    const bad = await new Deno.Command(Deno.execPath(), {
      args: [...CHECK_WORKFLOWS, broken],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(bad.code, 1);
    assert.match(new TextDecoder().decode(bad.stderr), /ci\.yml at \/jobs\/test/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
