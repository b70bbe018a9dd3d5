#!/usr/bin/env bash
# Builds dist/tappet_VERSION_ARCH.deb with dpkg-deb (`deno task deb`).
#
# What /usr/bin/tappet is, chosen automatically:
#   - TAPPET_DEB_BINARY=FILE: that executable (made by `deno compile`, e.g. for
#     another architecture by the release workflow; give TAPPET_DEB_ARCH too);
#   - else the `deno compile` executable, when deno compile can get its runtime
#     (denort: cached, DENORT_BIN, or a download);
#   - else, offline: the Deno runtime that runs this script (from npm), tappet's
#     source and its npm modules (fetched from the npm registry into a private
#     cache) under /usr/lib/tappet, behind a shell wrapper that runs them with
#     --cached-only and the permissions and V8 flags of the `compile` task.
# Both run with the permissions of deno.json's `compile` task, and no others,
# and its V8 flags (README, "Performance").
# Needs: deno, dpkg-deb, gzip; dpkg-shlibdeps (dpkg-dev) if present.
set -euo pipefail
cd "$(dirname "$0")/.."

ver() { deno eval 'console.log(JSON.parse(Deno.readTextFileSync("deno.json")).version)'; }
VERSION=$(ver)
ARCH=${TAPPET_DEB_ARCH:-$(dpkg --print-architecture)}
OUT=${TAPPET_DEB_OUT:-dist}
MAINTAINER=${TAPPET_DEB_MAINTAINER:-tappet developers <tappet@users.noreply.github.com>}
# The Deno permission, unstable and V8 flags, taken from the compile task so
# that the package grants exactly what the README's executable is built with.
FLAGS=$(deno eval 'const t = JSON.parse(Deno.readTextFileSync("deno.json")).tasks.compile;
console.log(t.split(/\s+/).filter((w) => /^--(allow-|unstable-|v8-flags=)/.test(w)).join(" "))')
[ -n "$FLAGS" ] || { echo "deb: no --allow flags in the compile task of deno.json" >&2; exit 1; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/tappet-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/tappet" "$root/lib/systemd/system" \
  "$root/etc/tappet" "$root/usr/share/doc/tappet/examples" "$root/usr/share/man/man1" \
  "$root/usr/share/lintian/overrides"

mode=""
if [ -n "${TAPPET_DEB_BINARY:-}" ]; then
  install -m 0755 "$TAPPET_DEB_BINARY" "$root/usr/bin/tappet"
  mode="compiled (given)"
else
  # shellcheck disable=SC2086 # FLAGS is a list of words
  if timeout 300 deno compile --quiet --no-check $FLAGS --output "$stage/tappet" main.ts 2>"$stage/compile.log"; then
    install -m 0755 "$stage/tappet" "$root/usr/bin/tappet"
    mode="compiled"
  else
    echo "deb: deno compile cannot run here ($(grep -m1 -o "error:.*" "$stage/compile.log" | head -c 200 || echo failed)); bundling the Deno runtime instead" >&2
    lib=$root/usr/lib/tappet
    install -m 0755 "$(readlink -f "$(command -v deno)")" "$lib/deno"
    # tappet's own modules: main.ts's module graph (with deno.json), and the lock.
    mapfile -t sources < <(deno info --json main.ts | deno eval '
      const root = "file://" + Deno.cwd() + "/";
      const info = JSON.parse(await new Response(Deno.stdin.readable).text());
      for (const m of info.modules) if (m.specifier.startsWith(root)) console.log(m.specifier.slice(root.length));')
    [ "${#sources[@]}" -gt 1 ] || { echo "deb: deno info found no modules of main.ts" >&2; exit 1; }
    install -d "$lib/app"
    cp --parents "${sources[@]}" deno.lock "$lib/app/"
    # The npm modules main.ts imports, pinned by deno.lock, in a cache of
    # their own; only npm/ is kept (the rest names the staging paths).
    (cd "$lib/app" && DENO_DIR="$lib/cache" deno install --quiet --frozen --entrypoint main.ts >&2)
    find "$lib/cache" -mindepth 1 -maxdepth 1 ! -name npm -exec rm -rf {} +
    cat >"$root/usr/bin/tappet" <<EOF
#!/bin/sh
# tappet: the Deno runtime and tappet's source in /usr/lib/tappet, run
# offline (--cached-only, modules from /usr/lib/tappet/cache, read-only) with
# the permissions and V8 flags of the compiled executable.
DENO_DIR=/usr/lib/tappet/cache DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 \\
  exec /usr/lib/tappet/deno run --quiet --cached-only --frozen --no-prompt \\
  --config /usr/lib/tappet/app/deno.json $FLAGS \\
  /usr/lib/tappet/app/main.ts "\$@"
EOF
    chmod 0755 "$root/usr/bin/tappet"
    mode="bundled Deno runtime $(deno --version | head -1 | cut -d' ' -f2)"
  fi
fi

install -m 0644 "packaging/tappet@.service" "packaging/tappet-legacy@.service" "$root/lib/systemd/system/"
install -m 0644 packaging/tappet.toml.sample "$root/etc/tappet/example.toml.sample"
echo /etc/tappet/example.toml.sample >"$root/DEBIAN/conffiles"
install -m 0755 packaging/postinst packaging/prerm packaging/postrm "$root/DEBIAN/"
install -m 0644 packaging/copyright "$root/usr/share/doc/tappet/copyright"
runtime=usr/bin/tappet
[ -f "$root/usr/lib/tappet/deno" ] && runtime=usr/lib/tappet/deno
sed "s#@RUNTIME@#$runtime#g" packaging/lintian-overrides >"$root/usr/share/lintian/overrides/tappet"
gzip -9n <README.md >"$root/usr/share/doc/tappet/README.md.gz"
gzip -9n <packaging/tappet.toml.sample >"$root/usr/share/doc/tappet/examples/tappet.toml.gz"
gzip -9n <packaging/tappet.1 >"$root/usr/share/man/man1/tappet.1.gz"
date=$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")
printf 'tappet (%s) unstable; urgency=medium\n\n  * Release %s (%s).\n\n -- %s  %s\n' \
  "$VERSION" "$VERSION" "$mode" "$MAINTAINER" "$date" | gzip -9n >"$root/usr/share/doc/tappet/changelog.gz"

# Run-time libraries of the executables, when dpkg-shlibdeps can tell
# (native builds); the known set otherwise.
shlibs="libc6, libgcc-s1"
elf=$root/$runtime
if command -v dpkg-shlibdeps >/dev/null && [ "$ARCH" = "$(dpkg --print-architecture)" ]; then
  mkdir -p "$stage/src/debian"
  printf 'Source: tappet\n\nPackage: tappet\nArchitecture: any\n' >"$stage/src/debian/control"
  found=$(cd "$stage/src" && dpkg-shlibdeps -O "$elf" 2>/dev/null | sed -n 's/^shlibs:Depends=//p') || true
  [ -n "$found" ] && shlibs=$found
fi

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: tappet
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $size
Depends: $shlibs, libsodium23, iproute2
Section: net
Priority: optional
Description: encrypted Ethernet-over-UDP tunnel
 tappet attaches to a TAP interface on each of two hosts and carries every
 Ethernet frame, sealed with libsodium, in a UDP datagram to the other host.
 It speaks a Noise_IKpsk2 handshake with forward secrecy, and the 2014
 tappet's wire format to tunnel with that program.
 .
 The package creates the tappet system user and a key pair named after the
 host, and installs the systemd templates tappet@NAME (configured by
 /etc/tappet/NAME.toml) and tappet-legacy@NAME (a 2014 installation's
 /var/lib/tappet/NAME.env).
EOF

(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)

# -Zgzip -z1: fast; the bundled runtime is most of the size either way.
mkdir -p "$OUT"
deb="$OUT/tappet_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zgzip -z1 --build "$root" "$deb" >/dev/null
echo "deb: built $deb ($mode, $(du -h "$deb" | cut -f1))" >&2
