#!/bin/bash
# The layers (docs/DESIGN.md, "Layers"): no product source of processor/, sinks/ or state/
# includes tools/ or tests/ (test helpers live under tests/, tools under tools/); no tool includes
# tests/ (the benchmarks share tools/cluster/ with the tests, not the tests' own code).
# Tests beside the code (*_test.cc) may include the test fixtures of tests/util/.
cd "$(dirname "$0")/.." || exit 2
found=0
while IFS= read -r hit; do
  echo "layers: $hit" >&2
  found=1
done < <(grep -rn --include='*.h' --include='*.cc' -E '#include "(tools|tests)/' processor sinks state |
  grep -v -E '^[^:]*_test\.cc:')
while IFS= read -r hit; do
  echo "layers: a tool includes the tests: $hit" >&2
  found=1
done < <(grep -rn --include='*.h' --include='*.cc' -E '#include "tests/' tools)
[ "$found" = 0 ] && echo "layers: clean"
exit "$found"
