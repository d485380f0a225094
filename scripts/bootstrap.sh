#!/usr/bin/env bash
# Installs every Debian and npm package batchscribe needs to build, test and run.
# Idempotent and quiet when everything is already there.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# Build dependencies. deploy/docker/Dockerfile installs exactly this list in its
# build stage; tests/deploy checks that, and that the Dockerfile's runtime stage
# covers every shared library the built binaries load (ldd + dpkg -S).
BUILD_PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libpqxx-dev libpq-dev libcpp-httplib-dev prometheus-cpp-dev nlohmann-json3-dev
  libsimdjson-dev libvalijson-dev libpoppler-cpp-dev libqpdf-dev libspdlog-dev
  libcli11-dev libcurl4-openssl-dev libssl-dev libgtest-dev libgmock-dev
)
# Everything the tests and run-local need beyond the build.
TOOL_PACKAGES=(
  postgresql-15 postgresql-client-15 python3 python3-grpcio python3-grpc-tools python3-yaml python3-jsonschema
  openssl curl procps poppler-utils clang libclang-rt-14-dev
  docker-compose
)

missing=()
for p in "${BUILD_PACKAGES[@]}" "${TOOL_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# Node.js may come from elsewhere (e.g. a nodesource build that bundles npm and
# conflicts with Debian's npm package): only install Debian's when npm is absent.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node tools: buf (lint, curl), the official OpenAI SDK, kubernetes-models.
if [ ! -x "$here/tools/node_modules/.bin/buf" ] || [ ! -d "$here/tools/node_modules/openai" ] \
   || [ ! -d "$here/tools/node_modules/kubernetes-models" ]; then
  echo "bootstrap: npm install in tools/"
  (cd "$here/tools" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
