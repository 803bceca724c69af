#!/usr/bin/env bash
# Builds dist/link-vip_<version>_<arch>.deb with dpkg-deb alone (no debhelper, no source package):
#   /usr/lib/link-vip/      the release build (scripts/build.ts) and the production node_modules
#   /usr/bin/linkctl        a relative symlink to /usr/lib/link-vip/bin/linkctl
#   /usr/lib/systemd/system/link.service, /etc/link/link.env (conffile), docs, linkctl(8), bash
#   completion; maintainer scripts in packaging/deb/.
# Architecture is that of koffi's native build, the only native code in the package: this
# machine's (build on the hosts' architecture). Prints the .deb's path. Needs dpkg-deb, npm,
# gzip, iconv; `npm ci` must have run (tsx and esbuild build it). LINK_DEB_OUT=DIR writes elsewhere;
# LINK_DEB_COMPRESSION=gzip builds in ~4 s instead of xz's ~20 s here, for a .deb of 10 MB instead
# of 6 MB (the tests use it; zstd would be faster still, but Debian 12's lintian refuses it).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

version=$(node -p 'require("./package.json").version')
case "$(node -p process.arch)" in
  x64) arch=amd64 ;;
  arm64) arch=arm64 ;;
  *) echo "build-deb: no Debian architecture known for node's $(node -p process.arch)" >&2; exit 1 ;;
esac
out=${LINK_DEB_OUT:-$repo/dist}
deb="$out/link-vip_${version}_${arch}.deb"

umask 022
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
lib=$root/usr/lib/link-vip
doc=$root/usr/share/doc/link-vip
mkdir -p "$lib/bin" "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/etc/link" "$doc" \
  "$root/usr/share/man/man8" "$root/usr/share/bash-completion/completions" \
  "$root/usr/share/lintian/overrides" "$root/DEBIAN"

# The code: compiled, then only `dependencies` (from the lock file, offline from npm's cache when
# it has them). --ignore-scripts: koffi's install step would only look for the prebuilt binary
# that its @koromix/koffi-linux-<arch> package already holds.
node_modules/.bin/tsx scripts/build.ts --out "$lib" >/dev/null
cp package.json package-lock.json "$lib/"
(cd "$lib" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
rm "$lib/package-lock.json"
install -m 0755 bin/linkctl "$lib/bin/linkctl"
ln -s ../lib/link-vip/bin/linkctl "$root/usr/bin/linkctl"
# Debian's C library is glibc: koffi's musl build would be dead weight.
rm -rf "$lib"/node_modules/@koromix/koffi-linux-*/musl_*
# Files npm keeps that mean nothing installed: package managers' and editors' dotfiles.
find "$lib/node_modules" -type f \( -name '.npmignore' -o -name '.git*' -o -name '.eslintrc*' \
  -o -name '.editorconfig' -o -name '.travis.yml' -o -name '.jshintrc' \) -delete
# Only files that say how to run them stay executable (lintian: executable-not-elf-or-script;
# script-not-executable for the rest). koffi's install script goes: --ignore-scripts skipped it,
# and its `#!/usr/bin/env -S node` is lintian's unusual-interpreter.
rm "$lib/node_modules/koffi/cnoke.cjs"
find "$lib/node_modules" -type f -perm /111 ! -name '*.node' -print0 |
  while IFS= read -r -d '' f; do [[ $(head -c2 "$f") == '#!' ]] || chmod a-x "$f"; done

# The unit and the configuration: the repository's, with this package's paths.
sed -e 's|^# LinK agent: .*Install as /etc/systemd/system/link.service|# LinK agent: virtual IPs shared through etcd (package link-vip; enable with systemctl enable --now link).|' \
  -e 's|^# (see docs/install.md)\. |# See /usr/share/doc/link-vip/install.md. |' \
  -e 's|^Documentation=.*|Documentation=man:linkctl(8) file:///usr/share/doc/link-vip/install.md|' \
  -e 's|^ExecStart=/opt/link/bin/linkctl |ExecStart=/usr/bin/linkctl |' \
  packaging/link.service >"$root/usr/lib/systemd/system/link.service"
grep -q '^ExecStart=/usr/bin/linkctl agent$' "$root/usr/lib/systemd/system/link.service" ||
  { echo "build-deb: packaging/link.service's ExecStart is not /opt/link/bin/linkctl agent any more" >&2; exit 1; }
sed -e 's|/opt/link/bin/linkctl|/usr/bin/linkctl|g' packaging/link.env.example >"$root/etc/link/link.env"
# Shipped 0644 as Debian wants a conffile; postinst makes it 0640 root:link once the group exists.
echo /etc/link/link.env >"$root/DEBIAN/conffiles"

# Docs, the copyright file (LinK's licence, then each bundled package's), the changelog:
# changelog.gz, not changelog.Debian.gz, because the version is package.json's own (a native
# package: no Debian revision, the package is built from this repository).
# docs/README.md is the chapters' index, as in the repository.
cp docs/*.md docs/openapi.yaml docs/visualiser.png "$doc/"
date=$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
{
  cat <<TXT
This is LinK (Link is not Keepalived), packaged as link-vip with scripts/build-deb.sh.

Copyright (C) 2025-2026 the LinK authors
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy of this software
 and associated documentation files (the "Software"), to deal in the Software without
 restriction, including without limitation the rights to use, copy, modify, merge, publish,
 distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or
 substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
 BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
 NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
 DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

Bundled in /usr/lib/link-vip/node_modules, each under its own licence (the text is in its folder;
the GNU GPL is in /usr/share/common-licenses/GPL-3):
TXT
  (cd "$lib" && node -e '
    const { readFileSync } = require("node:fs");
    const lock = JSON.parse(readFileSync("node_modules/.package-lock.json", "utf8"));
    for (const [path, p] of Object.entries(lock.packages)) {
      const pkg = JSON.parse(readFileSync(`${path}/package.json`, "utf8"));
      console.log(` ${path.slice("node_modules/".length)} ${pkg.version}: ${pkg.license ?? "see its folder"}`);
    }')
} >"$doc/copyright"
printf 'link-vip (%s) unstable; urgency=medium\n\n  * Release %s: the history is the project'"'"'s git log.\n\n -- LinK maintainers <link-maintainers@lists.example.org>  %s\n' \
  "$version" "$version" "$date" | gzip -9n >"$doc/changelog.gz"

# linkctl(8): from the CLI's own --help, command by command (one source); roff-escaped.
roff() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/" | iconv -f UTF-8 -t ASCII//TRANSLIT; }
manual() {
  local -a path=("$@")
  local help sub
  help=$(node "$lib/dist/linkctl.mjs" "${path[@]}" --help)
  printf '.SS "linkctl %s"\n.nf\n' "${path[*]}"
  roff <<<"$help"
  printf '.fi\n'
  for sub in $(awk '/^Commands:/ { c = 1; next } /^[^ ]/ { c = 0 } c && /^  [a-z]/ { split($1, n, "|"); if (n[1] != "help") print n[1] }' <<<"$help"); do
    manual "${path[@]}" "$sub"
  done
}
{
  cat <<ROFF
.TH LINKCTL 8 "$(date -d "$date" +%Y-%m-%d)" "link-vip $version" "System Administration"
.SH NAME
linkctl \- the LinK agent (virtual IPs elected through etcd) and its operator's commands
.SH SYNOPSIS
.B linkctl agent
.RB [ \-\-check ]
.br
.B linkctl ips
.IR command " [" options ]
.br
.B linkctl version
.br
.B linkctl lab
.IR command " [" options ]
.SH DESCRIPTION
.B linkctl agent
runs the agent: configured by environment variables (under systemd, from
.IR /etc/link/link.env ),
it elects one owner per VIP through etcd, binds the VIP on that host and announces it.
.B \-\-check
validates the configuration and the host, and changes nothing.
The other commands talk to an agent's HTTP API.
.SH COMMANDS
The help of each command, as
.B linkctl
.I command
.B \-\-help
prints it.
ROFF
  manual
  cat <<'ROFF'
.SH FILES
.TP
.I /etc/link/link.env
the agent's configuration (EnvironmentFile of link.service)
.TP
.I /etc/credstore/link.PASSWORD
secrets, handed to the agent as systemd credentials (also link.ETCD_PASSWORD, link.NOTIFY_WEBHOOK_SECRET)
.TP
.I /var/lib/link
the agent's state: journals and the local copy of its VIPs
.TP
.I /usr/lib/systemd/system/link.service
the unit, installed disabled
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1);
.I /usr/share/doc/link-vip/
(install.md, configuration.md, api.md, cli.md, troubleshooting.md)
ROFF
} >"$stage/linkctl.8"
gzip -9n <"$stage/linkctl.8" >"$root/usr/share/man/man8/linkctl.8.gz"
install -m 0644 packaging/deb/linkctl.bash-completion "$root/usr/share/bash-completion/completions/linkctl"

# What lintian still reports, and why each stays (lintian reads this file from the package too).
# Nothing else: `lintian dist/link-vip_*.deb` prints no E: and no W: line (test/integration/
# package-deb.test.ts checks the E: lines).
cat >"$root/usr/share/lintian/overrides/link-vip" <<'TXT'
# The agent's dependencies are npm modules that node resolves from this package's node_modules
# (async by winston, one-time by a logform helper, rxjs's own scheduler file named async.js):
# Debian's libjs-async is a browser copy of another version, which node would not load.
link-vip: embedded-javascript-library please use libjs-async [usr/lib/link-vip/node_modules/*]
TXT

# Control files.
libc=$(grep -aoh 'GLIBC_2\.[0-9]*' "$lib"/node_modules/@koromix/koffi-linux-*/*/koffi.node | sort -Vu | tail -1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@LIBC@/libc6 (>= ${libc#GLIBC_})/" \
  -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$root" | cut -f1)/" packaging/deb/control.in >"$root/DEBIAN/control"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

mkdir -p "$out"
dpkg-deb -Z"${LINK_DEB_COMPRESSION:-xz}" --build --root-owner-group "$root" "$deb" >/dev/null
echo "$deb"
