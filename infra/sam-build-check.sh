#!/usr/bin/env bash
# Builds the whole stack the way operators do (`sam build`, cargo-lambda with zig, arm64 by
# default) and checks that every function in template.yaml got its `bootstrap`.
#
#   infra/sam-build-check.sh            # arm64 (needs the aarch64 rust-std: rustup target add …)
#   ARCH=x86_64 infra/sam-build-check.sh
#
# Takes ~10–15 minutes on 2 cores from cold (release builds with LTO). tests/run builds x86_64
# with it for the deploy rehearsal (infra/rehearsal/run.sh); the arm64 default is not part of
# tests/run (CI-sized machines can run it separately).
set -euo pipefail
cd "$(dirname "$0")/.."
arch="${ARCH:-arm64}"
venv=".venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
need=()
[ -x "$venv/bin/sam" ] || need+=("aws-sam-cli")
[ -x "$venv/bin/cargo-lambda" ] || need+=("cargo-lambda")
if [ ${#need[@]} -gt 0 ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${need[@]}"
fi
export PATH="$PWD/$venv/bin:$PATH"
if [ "$arch" = arm64 ] && ! rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$'; then
  echo "==> adding the aarch64 standard library (rustup target add aarch64-unknown-linux-gnu)"
  rustup target add aarch64-unknown-linux-gnu || {
    echo "The aarch64 standard library cannot be installed here; run with ARCH=x86_64." >&2
    exit 1
  }
fi
echo "==> sam build ($arch)"
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
  sam build --no-cached --parameter-overrides "Architecture=$arch"

# Every AWS::Serverless::Function of the template must have produced an executable bootstrap
# for the right machine (ELF e_machine 0xB7 = aarch64, 0x3E = x86-64).
functions=$(awk '/^  [A-Za-z0-9]+:$/ {name=$1} /Type: AWS::Serverless::Function/ {sub(":","",name); print name}' template.yaml)
expected=$([ "$arch" = arm64 ] && echo b7 || echo 3e)
status=0
for f in $functions; do
  bin=".aws-sam/build/$f/bootstrap"
  if [ ! -x "$bin" ]; then
    echo "MISSING  $f ($bin)"; status=1; continue
  fi
  machine=$(od -An -tx1 -j18 -N1 "$bin" | tr -d ' ')
  size=$(stat -c %s "$bin")
  if [ "$machine" != "$expected" ]; then
    echo "WRONG    $f: ELF machine 0x$machine, expected 0x$expected"; status=1
  else
    printf 'OK       %-28s %s MB\n' "$f" "$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')"
  fi
done
exit $status
