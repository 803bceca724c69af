#!/usr/bin/env bash
# The demo: builds a 3-host lab in network namespaces and shows a VIP failing over.
# Pass --down to tear the lab down at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec node --import tsx --no-warnings=ExperimentalWarning lab/demo.ts "$@"
