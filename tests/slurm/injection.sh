#!/usr/bin/env bash
# tests/slurm/injection.sh SHRIKE ENV_FILE: nothing a user types can run in the batch
# script. Names that would reach it (`x'; rm -rf ~; '`, `$(id)`, as the run name, the
# account or inside the project path) are refused with a message naming them, before
# anything is created or submitted; a value that is only quoted (the shrike binary's
# path, here one holding `$(touch ...)` and a quote) is inert: bash reads it back
# verbatim and runs nothing.
set -uo pipefail
source "$(dirname "$0")/slurm_fixture.sh" "$1" "$2"
make_data
before=$(squeue -h -o %i | wc -l)

for name in "x'; rm -rf ~; '" '$(id)'; do
  submit epochs=1 "project=$work/runs" "name=$name" --instance rtx4090
  [ "$code" -eq 1 ] || fail "run name [$name] exited $code, expected 1: $out"
  grep -qF "the run name (name=) '$name' contains" <<<"$out" || fail "run name [$name] message: $out"
  submit epochs=1 "project=$work/runs" --account "$name" --instance rtx4090
  [ "$code" -eq 1 ] && grep -qF "the account (--account or the experiment's account:) '$name' contains" <<<"$out" ||
    fail "account [$name] ($code): $out"
done
submit epochs=1 "project=$work/runs \$(touch $work/pwned)" --instance rtx4090
[ "$code" -eq 1 ] && grep -qF "the project folder (project=)" <<<"$out" || fail "project path with \$(...) ($code): $out"
[ ! -e "$work/runs" ] && [ ! -e "$work/pwned" ] || fail "a refused submission created something: $(ls "$work")"
[ "$(squeue -h -o %i | wc -l)" -eq "$before" ] || fail "a refused submission reached Slurm: $(squeue)"
jobs=$("$shrike" jobs --all 2>&1)
grep -q "^no jobs" <<<"$jobs" || fail "a refused submission was recorded: $jobs"

# Quoted values are inert: a shrike binary in a folder named with $(...) and a quote.
odd="$work/bin \$(touch $work/pwned) 'q"
mkdir -p "$odd"
cp "$shrike" "$odd/shrike"
"$odd/shrike" submit "${tiny[@]}" epochs=1 "project=$work/runs" --instance rtx4090 --dry-run >dry.log 2>&1 ||
  fail "dry-run from the odd folder: $(tail -3 dry.log)"
line=$(grep "^shrike=" dry.log)
got=$(bash -c "$line"$'\nprintf %s "$shrike"')
[ "$got" = "$odd/shrike" ] || fail "bash read the binary path back as [$got], expected [$odd/shrike]"
[ ! -e "$work/pwned" ] || fail "the quoted path ran a command"
finish "injection: names refused, quoted values inert"
