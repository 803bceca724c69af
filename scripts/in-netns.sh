#!/usr/bin/env bash
# Runs a command in a fresh, anonymous network namespace with only `lo` up. Integration and e2e
# tests run under it, so whatever they create (veths, bridges, addresses, etcd's ports) can never
# land in the host's own network namespace, and the kernel removes it all when they exit.
set -euo pipefail
exec unshare --net -- bash -c 'ip link set lo up && exec "$@"' in-netns "$@"
