#!/usr/bin/env bash
# Quick start, command 1: set everything up, then run the hello example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node examples/hello.mjs
