#!/usr/bin/env bash
# Checks the k6 scripts without k6: runs every scenario's functions under Node.js (20+) against a
# live service (k6/check/check.mjs). Usage: k6/check/run.sh [BASE_URL]
set -euo pipefail
cd "$(dirname "$0")/../.."
export BASE_URL="${1:-${BASE_URL:-http://localhost:3000}}"
for scenario in health list get create mixed; do
  SCENARIO=$scenario SEED_STREAMS=5 node --import ./k6/check/register.mjs k6/check/check.mjs
done
