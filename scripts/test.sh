#!/usr/bin/env bash
# Quick start, command 2 (and CI): set up, then run every test — TypeScript (vitest projects,
# incl. root-only native and Linux tests) and Go conformance — and end with the totals line.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$PATH:/usr/local/go/bin"

bash scripts/setup.sh || { echo "setup failed"; echo "tests: 0 passed, 1 failed"; exit 1; }

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0

# Static checks count as one test each so that a red check is visible in the totals.
checks_failed=0
echo "==> typecheck" >&2
pnpm -s run typecheck >&2 || { checks_failed=$((checks_failed + 1)); status=1; }
echo "==> lint (biome)" >&2
pnpm -s run lint >&2 || { checks_failed=$((checks_failed + 1)); status=1; }
echo "==> TypeDoc reference (pnpm docs; warnings are errors)" >&2
pnpm -s run docs >"$results/docs.log" 2>&1 || { cat "$results/docs.log" >&2; checks_failed=$((checks_failed + 1)); status=1; }
checks=3
for pkg in packages/*/; do
  grep -q '"check:pack"' "$pkg/package.json" 2>/dev/null || continue
  checks=$((checks + 1))
  echo "==> attw + publint ($pkg)" >&2
  (cd "$pkg" && pnpm -s run check:pack >"$results/pack.log" 2>&1) || { cat "$results/pack.log" >&2; checks_failed=$((checks_failed + 1)); status=1; }
done
checks=$((checks + 1))
echo "==> native leak check (valgrind + LeakSanitizer)" >&2
bash packages/native-ns/scripts/leakcheck.sh >&2 || { checks_failed=$((checks_failed + 1)); status=1; }
echo "{\"passed\": $((checks - checks_failed)), \"failed\": $checks_failed}" >"$results/checks.json"

echo "==> vitest (all projects)" >&2
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$results/vitest.json" || status=1

go_dirs=()
for mod in test-e2e/*/go.mod; do [ -f "$mod" ] && go_dirs+=("$(dirname "$mod")"); done
for dir in "${go_dirs[@]}"; do
  echo "==> go test ($dir)" >&2
  (cd "$dir" && GARDEND="node $ROOT/packages/gardend/dist/bin/gardend.js" go test -count=1 -json ./... >"$results/go-$(basename "$dir").json") || status=1
  # Human-readable failures for the log.
  node scripts/go-test-summary.mjs "$results/go-$(basename "$dir").json" >&2 || true
  if [ "$(basename "$dir")" = go-conformance ]; then
    # The same client suite against two more targets (only the root package: ./... would count
    # the Go fakebackend's unit tests again):
    # - `gardend --backend linux` (real containers; root only, and a failure, not a skip, without root);
    # - the canonical Go server (GARDEN_TARGET=go, ~8 s): proves the suite encodes Go's behaviour.
    for target in linux go; do
      echo "==> go test ($dir, GARDEN_TARGET=$target)" >&2
      (cd "$dir" && GARDEN_TARGET=$target GARDEND="node $ROOT/packages/gardend/dist/bin/gardend.js" go test -count=1 -json . >"$results/go-$(basename "$dir")-$target.json") || status=1
      node scripts/go-test-summary.mjs "$results/go-$(basename "$dir")-$target.json" >&2 || true
    done
  fi
done

node scripts/totals.mjs "$results" || status=1
exit $status
