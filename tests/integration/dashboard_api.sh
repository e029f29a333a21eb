#!/usr/bin/env bash
# tests/integration/dashboard_api.sh SHRIKE: `shrike serve` through curl, against run
# folders that `shrike train` wrote (two tiny runs at imgsz 64 that differ in lr0): it
# starts with no ledger and no registry (and creates neither); every request needs the
# token (query, cookie or bearer; the cookie is HttpOnly and SameSite=Strict); the API
# answers projects, runs, metrics, logs, files and comparisons; the event stream's ids
# are byte offsets and Last-Event-ID resumes after them; requests that try to leave the
# runs folder ("..", %2e%2e, encoded slashes, symlinks to outside) get nothing outside;
# a ledger and a registry that appear later are read (a run's cost, a queued job); the
# server never writes the run folders or the ledger; a restart keeps the token;
# a non-loopback --host needs --allow-remote.
set -uo pipefail
shrike=$1
source "$(dirname "$0")/train_fixture.sh"
command -v curl >/dev/null || { echo "SKIP: curl is needed for the dashboard API test"; exit 77; }
cd "$work"
export SHRIKE_HOME=$work/home SHRIKE_LEDGER=$work/site/ledger.db TZ=UTC
make_training_data "$shrike" 16 8 4
common=(model=yolov8n.yaml data=shards imgsz=64 batch=8 epochs=2 workers=1 optimizer=SGD close_mosaic=1
        "project=$work/runs/demo")
"$shrike" train "${common[@]}" name=a >a.log 2>&1 || fail "training run a failed: $(tail -3 a.log)"
"$shrike" train "${common[@]}" name=b lr0=0.02 >b.log 2>&1 || fail "training run b failed: $(tail -3 b.log)"
# A run stopped by the user (SIGTERM) once it has trained for over a second, so that
# settling it charges something however fast this machine is.
"$shrike" train "${common[@]}" epochs=100000 name=stopped >stopped.log 2>&1 &
trainer=$!
wait_for_a_second_of_usage() {  # wait_for_a_second_of_usage RUN_DIR
  for _ in $(seq 1 600); do
    /usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1] + "/usage.json"))["segments"][-1]
sys.exit(0 if s["end"] > s["start"] else 1)' "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  fail "$1: usage.json never recorded a second of training"
}
wait_for_a_second_of_usage runs/demo/stopped
kill -TERM "$trainer"
wait "$trainer"
[ $? -eq 4 ] || fail "the SIGTERM'd run did not exit 4: $(tail -3 stopped.log)"

# What must never be reached: files outside the runs folder, behind symlinks inside it.
mkdir -p outside/secret/run
echo '{"state": "completed", "reason": "", "time": "x"}' >outside/secret/run/status.json
echo "TOP SECRET" >outside/secret.txt
ln -s "$work/outside/secret" runs/escape
ln -s "$work/outside/secret/run" runs/demo/out
ln -s "$work/outside/secret.txt" runs/demo/a/leak.txt
ln -s "$work/outside/secret.txt" runs/demo/a/weights/leak.h5
fingerprint() { (cd runs && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
fingerprint >runs.before

pid=
port=0
start_server() {  # start_server [extra options]: sets pid, base, token, port
  "$shrike" serve --runs runs --port "$port" "$@" >serve.out 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do grep -q '^open ' serve.out && break; sleep 0.1; done
  local url
  url=$(sed -n 's/^open  *//p' serve.out)
  [ -n "$url" ] || { fail "serve did not start: $(cat serve.out)"; finish "dashboard api"; }
  base=${url%%/?token=*}
  token=${url##*token=}
  port=${base##*:}
}
stop_server() {
  kill -INT "$pid"
  wait "$pid"
  local code=$?
  [ "$code" -eq 0 ] || fail "serve exited $code on SIGINT, expected 0"
}
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
get() {  # get PATH [curl options]: the status code; the body in ./body
  local path=$1
  shift
  curl -s --path-as-is -o body -w '%{http_code}' -H "Authorization: Bearer $token" "$@" "$base$path"
}
expect() {  # expect CODE PATH [curl options]
  local code=$1 path=$2 got
  shift 2
  got=$(get "$path" "$@")
  [ "$got" = "$code" ] || fail "GET $path: $got, expected $code: $(head -c 200 body)"
}
json() {  # json 'python expression over d' : prints it (d = the JSON body)
  /usr/bin/python3 -c "import json, sys; d = json.load(open('body')); print($1)"
}
check() {  # check 'python condition over d' MESSAGE
  [ "$(json "bool($1)")" = "True" ] || fail "$2: $(head -c 300 body)"
}

# 1. No ledger, no registry: it starts, says so, and creates neither.
start_server
grep -q "none yet: nothing charged" serve.out || fail "start-up lines should say there is no ledger: $(cat serve.out)"
expect 200 /api/overview
check 'd["ledger"]["access"] == "none" and not d["registry"]["present"]' "overview without ledger/registry"
check '[p["name"] for p in d["projects"]] == ["demo"]' "projects (the symlink 'escape' leads outside)"
check '[r["name"] for r in d["projects"][0]["runs"]] == ["a", "b", "stopped"]' "runs of demo"
check 'all(r["state"] == "completed" and r["epochs_done"] == 2 and r["epochs"] == 2 for r in d["projects"][0]["runs"][:2])' \
  "run states and progress"
check 'd["projects"][0]["runs"][2]["state"] == "stopped" and d["projects"][0]["runs"][2]["reason"] != ""' \
  "the stopped run's state and reason"
check 'all(isinstance(r["best_map50_95"], float) and r["cost"] is None for r in d["projects"][0]["runs"])' "best mAP, no cost"
expect 200 /api/credits
check 'd["ledger"]["access"] == "none" and not d["accounts"][0]["exists"]' "credits without a ledger"
[ ! -e "$SHRIKE_LEDGER" ] && [ ! -e "$work/site" ] || fail "serve created the ledger"
[ ! -e "$SHRIKE_HOME/jobs.db" ] || fail "serve created the job registry"

# 2. The token.
code=$(curl -s -o body -w '%{http_code}' "$base/api/overview")
[ "$code" = 401 ] || fail "no token: $code, expected 401"
code=$(curl -s -o body -w '%{http_code}' "$base/api/overview?token=${token/a/b}x")
[ "$code" = 403 ] || fail "wrong token: $code, expected 403"
code=$(curl -s -o body -w '%{http_code}' -H "Accept: text/html" "$base/")
[ "$code" = 401 ] && grep -q "token=" body || fail "the page without token: $code $(cat body)"
curl -s -D headers -o body "$base/?token=$token" >/dev/null
grep -qi "^HTTP/1.1 303" headers && grep -qi "^location: /" headers || fail "?token= on the page should redirect: $(cat headers)"
grep -i "^set-cookie: shrike_token_$port=$token; Path=/; HttpOnly; SameSite=Strict" headers >/dev/null ||
  fail "token cookie: $(grep -i set-cookie headers)"
grep -qi "^content-security-policy: default-src 'self'" headers || fail "no Content-Security-Policy"
code=$(curl -s -o body -w '%{http_code}' -b "shrike_token_$port=$token" "$base/api/overview")
[ "$code" = 200 ] || fail "token cookie: $code, expected 200"
code=$(curl -s -o body -w '%{http_code}' -b "shrike_token_1=$token" "$base/api/overview")
[ "$code" = 401 ] || fail "a cookie of another port's server: $code, expected 401"
code=$(curl -s -o body -w '%{http_code}' "$base/api/overview?token=$token")
[ "$code" = 200 ] || fail "?token= on the API: $code"
expect 405 /api/overview -X POST
expect 200 /
grep -q '<script type="module" src="/assets/app.js">' body || fail "the page: $(head -c 300 body)"
expect 200 /assets/chart.umd.js
grep -q "Chart.js v" body || fail "Chart.js is not served from the binary"
expect 404 /assets/nothing.js

# 3. One run, its metrics, log and files.
expect 200 /api/projects/demo/runs/a
check '["lr0", "0.01"] in d["settings"] and "weights/best.h5" in [f["path"] for f in d["files"]]' "run a's settings and files"
check 'd["provenance"]["world_size"] == 1' "provenance"
expect 200 /api/projects/demo/runs/a/metrics
size=$(stat -c %s runs/demo/a/metrics.jsonl)
check "d['offset'] == $size and [r['epoch'] for r in d['records'] if r['type'] == 'epoch'] == [1, 2]" "metrics snapshot"
expect 200 "/api/projects/demo/runs/a/log?lines=3"
check 'len(d["lines"]) == 3 and "all epochs done" in d["lines"][-1]' "train.log tail"
expect 400 "/api/projects/demo/runs/a/log?lines=x"
expect 200 /api/projects/demo/runs/a/files/weights/best.h5
cmp -s body runs/demo/a/weights/best.h5 || fail "downloaded best.h5 differs from the file"
expect 200 /api/projects/demo/runs/a/files/results.csv
cmp -s body runs/demo/a/results.csv || fail "downloaded results.csv differs"
expect 404 /api/projects/demo/runs/a/files/weights/missing.h5
expect 404 /api/projects/demo/runs/zzz
expect 404 /api/projects/nope

# 4. Compare.
expect 200 "/api/projects/demo/compare?runs=a,b"
check 'd["differing_settings"] == ["lr0"] and [len(r["epoch_records"]) for r in d["runs"]] == [2, 2]' "compare a,b"
expect 200 /api/projects/demo/compare
check '[r["name"] for r in d["runs"]] == ["a", "b", "stopped"]' "compare with no runs= takes the project's runs"
expect 400 "/api/projects/demo/compare?runs=a,..%2fb"
expect 403 "/api/projects/demo/compare?runs=a,out"

# 5. Server-Sent Events: id = byte offset past each line; resume after an id.
curl -sN --max-time 2 -H "Authorization: Bearer $token" "$base/api/projects/demo/runs/a/events?from=0" >events
lines=$(wc -l <runs/demo/a/metrics.jsonl)
[ "$(grep -c '^event: record' events)" -eq "$lines" ] || fail "stream from 0 sent $(grep -c '^event: record' events) records, file has $lines"
[ "$(grep '^id: ' events | tail -1)" = "id: $size" ] || fail "last event id $(grep '^id: ' events | tail -1), file size $size"
grep -q '^event: status' events && grep -q '^retry: ' events || fail "no status event or retry"
third=$(grep '^id: ' events | sed -n 3p | cut -d' ' -f2)
[ "$(head -c "$third" runs/demo/a/metrics.jsonl | tail -c 1 | od -An -c | tr -d ' ')" = '\n' ] ||
  fail "event id $third is not the offset just past a line"
curl -sN --max-time 2 -H "Authorization: Bearer $token" -H "Last-Event-ID: $third" \
  "$base/api/projects/demo/runs/a/events?from=0" >resumed
[ "$(grep -c '^event: record' resumed)" -eq $((lines - 3)) ] || fail "resume after id $third: $(grep -c '^event: record' resumed) records"
[ "$(grep -m1 '^data: {"type"' resumed)" = "data: $(sed -n 4p runs/demo/a/metrics.jsonl)" ] || fail "resumed at the wrong record"
curl -sN --max-time 2 -H "Authorization: Bearer $token" "$base/api/projects/demo/runs/a/events?from=$((third - 1))" >reset
grep -q '^event: reset' reset || fail "an offset inside a line should reset the stream"
expect 400 "/api/projects/demo/runs/a/events?from=abc"

# 6. Nothing outside the runs folder, however it is asked for.
for request in "/api/projects/escape/runs/run 403" "/api/projects/escape 403" "/api/projects/demo/runs/out 403" \
    "/api/projects/demo/runs/a/files/leak.txt 403" "/api/projects/demo/runs/a/files/weights/leak.h5 403" \
    "/api/projects/%2e%2e/runs/a 400" "/api/projects/demo/runs/%2E%2E 400" "/api/projects/demo/runs/a/files/.. 400" \
    "/api/projects/demo/runs/a/files/%2e%2e 400" "/api/projects/demo/runs/a/files/..%2F..%2F..%2Foutside%2Fsecret.txt 404" \
    "/api/projects/demo/runs/a/files/weights%2F..%2F..%2F..%2F..%2Foutside%2Fsecret.txt 404" \
    "/api/projects/..%2Foutside/runs/secret 404" "/api/projects/demo/runs/../../../outside/secret.txt 404" \
    "/api/projects/demo/runs/a/files/%2Fetc%2Fpasswd 404" "/assets/..%2F..%2Fetc%2Fpasswd 404" \
    "/api/projects/demo/runs/a/files/weights/..%2F..%2F..%2F..%2Foutside%2Fsecret.txt 404"; do
  expect "${request##* }" "${request% *}"
  ! grep -q -e "TOP SECRET" -e "root:x:" body || fail "${request% *} leaked a file outside the runs folder"
done

# 7. A ledger and a registry that appear while it runs: the run's cost, a queued job.
"$shrike" accounting settle runs/demo/stopped >settle.log 2>&1 || fail "settle: $(cat settle.log)"
/usr/bin/python3 - "$SHRIKE_HOME/jobs.db" "$work/runs/demo/c" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])  # the columns scheduler/job_registry.cpp writes that the dashboard reads
db.execute("""CREATE TABLE jobs (cluster TEXT, job_id TEXT, account TEXT, user TEXT, project TEXT, run TEXT,
  run_dir TEXT, instance TEXT, state TEXT, reason TEXT, submitted_at TEXT, updated_at TEXT, gpus INTEGER,
  nodes INTEGER, elapsed_seconds REAL)""")
db.execute("INSERT INTO jobs VALUES ('c', '4242', 'u', 'u', 'demo', 'c', ?, 'rtx4090', 'pending', 'Priority', "
           "'2026-01-10T10:00:00Z', '2026-01-10T10:00:00Z', 1, 1, 0)", (sys.argv[2],))
db.commit()
PY
ledger_sum=$(sha256sum <"$SHRIKE_LEDGER")
registry_sum=$(sha256sum <"$SHRIKE_HOME/jobs.db")
expect 200 /api/overview
check 'd["ledger"]["access"] == "file" and d["registry"]["present"]' "overview with ledger and registry"
check '[r["cost"] is not None and r["cost"] > 0 for r in d["projects"][0]["runs"][:3]] == [False, False, True]' \
  "the settled run's cost"
check '[(r["name"], r["state"], r["job"]["job_id"]) for r in d["projects"][0]["runs"] if r.get("queued")] == [("c", "pending", "4242")]' \
  "the queued Slurm job"
expect 200 /api/credits
check 'd["accounts"][0]["exists"] and [(c["project"], c["run"]) for c in d["accounts"][0]["charges_per_run"]] == [("demo", "stopped")]' \
  "charges per run"
check 'd["accounts"][0]["history"][0]["kind"] == "charge"' "credit history"
[ "$(sha256sum <"$SHRIKE_LEDGER")" = "$ledger_sum" ] || fail "serve changed the ledger"
[ "$(sha256sum <"$SHRIKE_HOME/jobs.db")" = "$registry_sum" ] || fail "serve changed the registry"
fingerprint >runs.after
cmp -s runs.before runs.after || fail "serve changed the run folders: $(diff runs.before runs.after | head -4)"

# 8. Restart on the same port: the kept token still works; --new-token replaces it.
stop_server
grep -q "shrike serve: stopped" serve.out || fail "no stop message: $(tail -2 serve.out)"
old_token=$token
start_server
[ "$token" = "$old_token" ] || fail "a restart changed the token"
code=$(curl -s -o body -w '%{http_code}' -b "shrike_token_$port=$old_token" "$base/api/overview")
[ "$code" = 200 ] || fail "the cookie after a restart: $code"
stop_server
start_server --new-token
[ "$token" != "$old_token" ] || fail "--new-token kept the old token"
code=$(curl -s -o body -w '%{http_code}' -b "shrike_token_$port=$old_token" "$base/api/overview")
[ "$code" = 401 ] || fail "the old token after --new-token: $code"
[ "$(stat -c %a "$SHRIKE_HOME/dashboard.token")" = 600 ] || fail "token file mode $(stat -c %a "$SHRIKE_HOME/dashboard.token")"

# 9. Errors at start: the port is taken; a non-loopback address without --allow-remote.
out=$("$shrike" serve --runs runs --port "$port" 2>&1)
[ $? -eq 1 ] && grep -q "cannot listen on 127.0.0.1:$port" <<<"$out" || fail "port in use: $out"
stop_server
out=$("$shrike" serve --runs runs --host 0.0.0.0 --port 0 2>&1)
[ $? -eq 1 ] && grep -q "is not a loopback address" <<<"$out" && grep -q -- "--allow-remote" <<<"$out" ||
  fail "0.0.0.0 without --allow-remote: $out"
pid=
finish "dashboard api"
