#!/usr/bin/env bash
# Installs what LinK's demo, tests and benchmarks need on Debian 12 + Node 20, as root.
# Safe to re-run: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A NEED=(
  [etcd]=etcd-server [etcdctl]=etcd-client [tcpdump]=tcpdump [ip]=iproute2
  [capsh]=libcap2-bin [setpriv]=util-linux [openssl]=openssl [chromium]=chromium
  [keepalived]=keepalived [ucarp]=ucarp [ping]=iputils-ping [sysctl]=procps [curl]=curl
  [unshare]=util-linux [useradd]=passwd [lintian]=lintian
  # promtool checks /metrics (test/integration/metrics-promtool.test.ts): a 19 MB download.
  [promtool]=prometheus
  # The unit's security score and verify (test/unit/packaging-systemd.test.ts), and the least-privilege
  # e2e's seccomp filter (test/support/seccomp-exec.py, Python with libseccomp).
  [systemd-analyze]=systemd [python3]=python3
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
# Packages without a command to look for: fonts so the visualiser's screenshot has readable text.
# libseccomp2, loaded by test/support/seccomp-exec.py.
for pkg in fonts-liberation libseccomp2; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts these as services on install; LinK's tests and lab start their own.
  for svc in etcd keepalived ucarp prometheus; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
