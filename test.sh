#!/usr/bin/env bash
# The project's one test command, on a fresh machine with only the Rust toolchain:
# installs what the browser tests need when it is missing, then checks formatting and lints
# and runs every test. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")"

# The web page's browser tests drive Debian's headless Chromium through chromedriver; the
# test of an RSA approver's CMS signature makes its authority with the openssl command line;
# the first-start crash test kills the node at chosen system calls with strace.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null ||
    ! command -v openssl >/dev/null || ! command -v strace >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y chromium chromium-driver openssl strace ||
        { $sudo apt-get update && $sudo apt-get install -y chromium chromium-driver openssl strace; }
fi

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test
