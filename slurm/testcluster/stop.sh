#!/usr/bin/env bash
# slurm/testcluster/stop.sh [DIR]: stops the test cluster that start.sh started in DIR
# (default: $SHRIKE_TESTCLUSTER_DIR) and removes DIR (kept when SHRIKE_TESTCLUSTER_KEEP=1,
# for reading the logs). Only that cluster's processes are ended: its jobs are cancelled
# first (their processes are not children of the daemons), then slurmd, slurmctld and
# munged by their pid files, each checked to be the process started with DIR's files
# (a pid file may be stale and its number reused), then any process still holding a
# file under DIR open (a slurmstepd whose job outlived the cancel). Never by name.
set -uo pipefail

dir=${1:-${SHRIKE_TESTCLUSTER_DIR:-}}
if [ -z "$dir" ] || [ ! -f "$dir/slurm.conf" ]; then
  echo "usage: stop.sh DIR   (the folder start.sh printed as SHRIKE_TESTCLUSTER_DIR)" >&2
  exit 1
fi
dir=$(cd "$dir" && pwd)
export SLURM_CONF=$dir/slurm.conf PATH=$PATH:/usr/sbin

# The pid in FILE if that process's command line mentions MARK (our daemon), else nothing.
our_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2" && echo "$pid"
  return 0
}
# A process that exists and is not a zombie (daemons started from a shell that still
# runs stay zombies until it reaps them).
is_alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# Sends TERM, waits up to $2 seconds for the pids in $1 to end, then KILL.
end_pids() {
  local pids=$1 waited=0
  [ -z "$pids" ] && return 0
  kill -TERM $pids 2>/dev/null
  while [ "$waited" -lt $(($2 * 10)) ]; do
    local alive=""
    for pid in $pids; do is_alive "$pid" && alive="$alive $pid"; done
    [ -z "$alive" ] && return 0
    sleep 0.1
    waited=$((waited + 1))
  done
  kill -KILL $pids 2>/dev/null
  return 0
}

ctld=$(our_pid "$dir/slurmctld.pid" "$dir/slurm.conf")
if [ -n "$ctld" ]; then
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | sort -u)
  if [ -n "$jobs" ]; then
    timeout 10 scancel --quiet $jobs 2>/dev/null
    for _ in $(seq 1 100); do
      [ -z "$(timeout 5 squeue -h -t running,completing -o %A 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
fi

end_pids "$(our_pid "$dir/slurmd.pid" "$dir/slurm.conf") $ctld" 10
end_pids "$(our_pid "$dir/munge/munged.pid" "$dir/munge/")" 5

# Whatever still has a file under DIR open (slurmstepd logs to DIR/slurmd.log).
leftovers=""
for fd_dir in /proc/[0-9]*/fd; do
  pid=${fd_dir#/proc/}
  pid=${pid%/fd}
  [ "$pid" = "$$" ] && continue
  if find "$fd_dir" -maxdepth 1 -lname "$dir/*" 2>/dev/null | grep -q .; then leftovers="$leftovers $pid"; fi
done
end_pids "${leftovers# }" 5

if [ "${SHRIKE_TESTCLUSTER_KEEP:-0}" = 1 ]; then
  echo "testcluster: stopped; logs kept in $dir" >&2
else
  rm -rf "$dir"
fi
