#!/usr/bin/env bash
# The deploy rehearsal, as CI runs it (README, "Deploy and operate › Rehearse the deploy"):
# `sam build` for x86_64 (the template's Architecture parameter; infra/sam-build-check.sh checks
# that every function got its bootstrap), then the rehearsal on those artifacts, then the
# rehearsal's test of itself (--prove-failures: three planted defects must each fail it).
#
#   infra/rehearsal/run.sh                 build, rehearse, prove
#   REHEARSAL_BUILD=skip infra/rehearsal/run.sh   reuse .aws-sam/build from an earlier build
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
if [ "${REHEARSAL_BUILD:-}" != skip ]; then
  ARCH=x86_64 nice -n 10 infra/sam-build-check.sh
fi
built=$(date +%s)
cargo run --quiet -p rehearsal -- --prove-failures
finished=$(date +%s)
echo "==> sam build $((built - started)) s, rehearsal and its self-test $((finished - built)) s"
