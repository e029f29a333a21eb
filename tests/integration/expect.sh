# tests/integration/expect.sh: sourced by the end-to-end scripts that check the command
# line contract. Needs $shrike (the binary) and $work (a scratch folder, the commands'
# working directory). fail MESSAGE counts a failure; expect CODE PATTERN -- ARGS... runs
# `shrike ARGS...` and fails unless it exits CODE with output matching PATTERN.
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect() {
  local code=$1 pattern=$2; shift 3
  local output status
  output=$(cd "$work" && "$shrike" "$@" 2>&1); status=$?
  [ "$status" -eq "$code" ] || fail "shrike $* exited $status, expected $code: $output"
  grep -qE -- "$pattern" <<<"$output" || fail "shrike $*: output lacks /$pattern/: $output"
}
