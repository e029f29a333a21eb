#!/usr/bin/env bash
# tests/integration/accounting_privilege.sh SHRIKE SHRIKE_LEDGER_HELPER: who may write the
# ledger. A root-owned ledger (mode 0600) with the helper installed setuid root, as a
# site would deploy it (slurm/README.md § Accounting); an ordinary user (nobody, via
# setpriv) is refused topup, grant, settle and reports with clear messages, may read
# and hold only their own account through the helper, and cannot redirect the helper
# to a configuration of their own. Needs root (exit 77 otherwise, or where the temp
# folder is mounted nosuid).
set -uo pipefail
shrike_built=$1
helper_built=$2
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to install a setuid helper and to run commands as nobody"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
id nobody >/dev/null 2>&1 || skip "there is no user 'nobody'"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -m 755 "$work/bin" "$work/configs" "$work/site" "$work/evil"
cp "$shrike_built" "$work/bin/shrike"
cp "$helper_built" "$work/bin/shrike-ledger"
repo=$(cd "$(dirname "$0")/../.." && pwd)
cp "$repo/configs/instances.yaml" "$repo/configs/accounting.yaml" "$work/configs/"
export SHRIKE_LEDGER=$work/site/ledger.db SHRIKE_CONFIG_DIR=$work/configs
shrike=$work/bin/shrike
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

expect_as() {  # expect_as USER CODE PATTERN -- COMMAND...
  local user=$1 code=$2 pattern=$3; shift 4
  local output status
  if [ "$user" = root ]; then
    output=$("$@" 2>&1); status=$?
  else
    output=$(setpriv --reuid="$user" --regid=nogroup --clear-groups "$@" 2>&1); status=$?
  fi
  [ "$status" -eq "$code" ] || fail "($user) $* exited $status, expected $code: $output"
  grep -qE -- "$pattern" <<<"$output" || fail "($user) $*: output lacks /$pattern/: $output"
}

hold_json() {  # hold_json KEY ACCOUNT
  echo "{\"job_key\": \"$1\", \"account\": \"$2\", \"user\": \"someone-else\", \"project\": \"p\", \"run\": \"r\",
        \"instance\": \"cpu\", \"gpus\": 2, \"estimated_seconds\": 3600, \"timed\": true}"
}

expect_as root 0 "topup of 10.00 credits to account alice" -- "$shrike" credits topup --account alice --amount 10
[ "$(stat -c '%U %a' "$SHRIKE_LEDGER")" = "root 600" ] || fail "ledger is $(stat -c '%U %a' "$SHRIKE_LEDGER"), not root 600"

# An ordinary user: admin operations are refused with a clear message, by the real uid.
expect_as nobody 1 "only accounting admins may topup credits; user 'nobody' is not root" -- "$shrike" credits topup --account nobody --amount 5
expect_as nobody 1 "only accounting admins may grant credits" -- "$shrike" credits grant --account nobody --amount 5
expect_as nobody 1 "only accounting admins may reverse" -- "$shrike" credits reverse topup:x
expect_as nobody 1 "reads the whole ledger .* which user 'nobody' may not open" -- "$shrike" accounting report
# Without the setuid bit the helper cannot help: the message says what to install.
expect_as nobody 1 "not installed setuid" -- "$shrike" credits balance

chmod 4755 "$work/bin/shrike-ledger"
if findmnt -no OPTIONS -T "$work" 2>/dev/null | grep -qw nosuid; then
  [ "$failures" -eq 0 ] || exit 1
  skip "$work is on a nosuid mount: the setuid half of this test cannot run"
fi

# Through the setuid helper: own account only, holds for the real user.
expect_as nobody 0 "account nobody: no ledger entries yet" -- "$shrike" credits balance
expect_as nobody 0 '"hold_micro":100000' -- "$work/bin/shrike-ledger" hold "$(hold_json c:1 nobody)"
expect_as nobody 0 "balance 5.00 credits \(4.90 available, 0.10 held" -- "$shrike" credits balance
expect_as nobody 0 "kind" -- "$shrike" credits history
expect_as nobody 1 "user 'nobody' may not use account 'alice'" -- "$shrike" credits balance --account alice
expect_as nobody 1 "user 'nobody' may not use account 'alice'" -- "$work/bin/shrike-ledger" hold "$(hold_json c:2 alice)"
expect_as nobody 0 '"bound"' -- "$work/bin/shrike-ledger" bind c:1 testc 42
expect_as nobody 1 "only accounting admins may topup" -- "$shrike" credits topup --account nobody --amount 5
expect_as nobody 1 "user 'nobody' may not settle" -- "$shrike" accounting settle --all
expect_as root 0 "nobody +nobody +cpu +2 +0.10" -- "$shrike" accounting holds
# The hold records the real user, not the one the request claimed.
expect_as root 0 "c:1 +nobody +nobody" -- "$shrike" accounting holds

# The environment cannot redirect the setuid helper to a configuration of one's own.
cp "$work/configs/instances.yaml" "$work/evil/"
printf 'admins: [nobody]\n' >"$work/evil/accounting.yaml"
chown -R nobody "$work/evil"
expect_as nobody 1 "owned by uid .* trusts only files owned by root" -- env SHRIKE_CONFIG_DIR="$work/evil" "$shrike" credits topup --account nobody --amount 5
expect_as nobody 1 "accounting config .*accounting.yaml cannot be read" -- env SHRIKE_CONFIG_DIR="$work/bin" "$work/bin/shrike-ledger" summary nobody
touch "$work/evil/ledger.db" && chown nobody "$work/evil/ledger.db"
expect_as nobody 1 "ledger .*evil/ledger.db is owned by uid .* trusts only files owned by root" -- env SHRIKE_LEDGER="$work/evil/ledger.db" "$work/bin/shrike-ledger" summary nobody

# An admin listed in the site's (root-owned) accounting.yaml may top up through the helper.
sed -i 's/^admins: \[\]/admins: [nobody]/' "$work/configs/accounting.yaml"
grep -q "^admins: \[nobody\]" "$work/configs/accounting.yaml" || fail "could not list nobody under admins:"
expect_as nobody 0 "topup of 5.00 credits to account nobody" -- "$shrike" credits topup --account nobody --amount 5
expect_as nobody 0 '"released_micro":100000' -- "$work/bin/shrike-ledger" release c:1
expect_as root 0 "is consistent" -- "$shrike" accounting check
expect_as root 0 "balance 15.00 credits \(15.00 available" -- "$shrike" credits balance --account alice

if [ "$failures" -ne 0 ]; then
  echo "accounting_privilege: $failures failure(s)"
  exit 1
fi
echo "accounting_privilege: all checks passed"
