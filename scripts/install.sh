#!/usr/bin/env bash
# Installs the `tappet` command for every user of this host, from this
# checkout, the Deno way, as root:
#
#   - a copy of the source that every user can read, in PREFIX/lib/tappet;
#   - `deno install --global --root PREFIX --name tappet`, with that copy's
#     config and lock file and the permissions tappet's commands need
#     (--allow-ffi --allow-read --allow-write --allow-net, and
#     --allow-env=TAPPET_LIBSODIUM,JOURNAL_STREAM) and the V8 flags of
#     deno.json's tappet task: PREFIX/bin/tappet, on every user's PATH,
#     and beside it (PREFIX/bin/.tappet) the config and a node_modules with
#     the npm packages deno.lock pins, so that running it downloads nothing;
#   - completion scripts where bash (bash-completion), zsh and fish look in
#     PREFIX/share.
#
#   bash scripts/install.sh [--prefix DIR]              install, or replace an install
#   bash scripts/install.sh --uninstall [--prefix DIR]  remove all of the above
#
# PREFIX is /usr/local unless given. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=/usr/local
MODE=install
while [ $# -gt 0 ]; do
  case $1 in
    --uninstall) MODE=uninstall ;;
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
    *) echo "install.sh: unknown argument '$1'; usage: install.sh [--uninstall] [--prefix DIR]" >&2; exit 2 ;;
  esac
  shift
done

LIB=$PREFIX/lib/tappet
BASH_COMPLETION=$PREFIX/share/bash-completion/completions/tappet
ZSH_COMPLETION=$PREFIX/share/zsh/site-functions/_tappet
FISH_COMPLETION=$PREFIX/share/fish/vendor_completions.d/tappet.fish
# The permissions of the installed command: the union of what each command
# needs (README, "Running it"); --allow-net is for --transport deno only.
PERMISSIONS=(--allow-ffi --allow-read --allow-write --allow-net --allow-env=TAPPET_LIBSODIUM,JOURNAL_STREAM)
# The V8 flags every way of running tappet has (README, "Performance"), from
# deno.json's tappet task, read as the tests and the benchmark read them.
read -r -a V8_FLAGS <<<"$(deno eval 'import { v8Flags } from "./scripts/harness.ts"; console.log(v8Flags().join(" "))')"
# What running tappet needs from the checkout.
SOURCES=(main.ts errors.ts log.ts keygen.ts deno.json deno.lock cli core ffi io tunnel)

if [ "$MODE" = uninstall ]; then
  if [ -e "$PREFIX/bin/tappet" ]; then deno uninstall --global --root "$PREFIX" tappet >&2; fi
  rm -rf "$LIB"
  rm -f "$BASH_COMPLETION" "$ZSH_COMPLETION" "$FISH_COMPLETION"
  echo "install.sh: removed $PREFIX/bin/tappet, $LIB and the completion scripts" >&2
  exit 0
fi

rm -rf "$LIB.new"
mkdir -p "$LIB.new"
cp -r "${SOURCES[@]}" "$LIB.new/"
chmod -R u=rwX,go=rX "$LIB.new"
rm -rf "$LIB"
mv "$LIB.new" "$LIB"

deno install --global --force --quiet --root "$PREFIX" --name tappet \
  --config "$LIB/deno.json" --lock="$LIB/deno.lock" --cached-only "${V8_FLAGS[@]}" "${PERMISSIONS[@]}" "$LIB/main.ts" >&2
chmod 755 "$PREFIX/bin/tappet"

mkdir -p "$(dirname "$BASH_COMPLETION")" "$(dirname "$ZSH_COMPLETION")" "$(dirname "$FISH_COMPLETION")"
"$PREFIX/bin/tappet" completion bash >"$BASH_COMPLETION"
"$PREFIX/bin/tappet" completion zsh >"$ZSH_COMPLETION"
"$PREFIX/bin/tappet" completion fish >"$FISH_COMPLETION"
chmod 644 "$BASH_COMPLETION" "$ZSH_COMPLETION" "$FISH_COMPLETION"

echo "install.sh: installed $PREFIX/bin/tappet ($("$PREFIX/bin/tappet" --version)) from $LIB, with completions for bash, zsh and fish" >&2
if ! [ -r /usr/share/bash-completion/bash_completion ]; then
  echo "install.sh: bash loads the completion only with the bash-completion package (apt-get install bash-completion)" >&2
fi
