#!/usr/bin/env bash
# The whole test suite: lint, type-check, unit, integration (real etcd, real namespaces), e2e.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
npm test
