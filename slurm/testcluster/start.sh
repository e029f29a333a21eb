#!/usr/bin/env bash
# slurm/testcluster/start.sh: a single-node Slurm on localhost for tests and CI.
#
#   eval "$(slurm/testcluster/start.sh)"      ... shrike submit ...      slurm/testcluster/stop.sh
#
# Starts a private munged, slurmctld and slurmd (as root, no systemd) whose every file
# (config, state, spool, logs, pid files, munge key and socket) lives in a fresh folder
# of its own under ${TMPDIR:-/tmp}, on ports nobody else uses, so several clusters (two
# test runs, two helpers) never meet. Settings that work in a container:
# proctrack/linuxproc, task/none, select/cons_tres, MpiDefault=pmix, jobcomp/filetxt (no
# slurmdbd), two fake GPUs as gres backed by mknod character devices, and
# AuthInfo cred_expire=10 so a requeued job waits ~10 s instead of Slurm's default 120 s.
# Waits until the node is idle, then prints the `export` lines that make `shrike` use it:
#   SLURM_CONF               the cluster's slurm.conf (every Slurm command reads it)
#   SHRIKE_CONFIG_DIR        a site configuration: configs/ with an instances.yaml whose
#                            instance types (the default ids) map to partition `test` and
#                            the gres type `fake`
#   SHRIKE_TESTCLUSTER_DIR   the cluster's folder (stop.sh takes it)
# Exit codes: 0 started, 77 cannot run here (not root, Slurm or munge missing: the
# reason is printed), 1 failed to start (the daemons' log tails are printed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
plugin_dir=${SHRIKE_SLURM_PLUGIN_DIR:-/usr/lib/x86_64-linux-gnu/slurm-wlm}

cannot_run() { echo "testcluster: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || cannot_run "needs root (slurmd runs jobs as root here); run the Slurm tests as root"
export PATH=$PATH:/usr/sbin
for tool in munged mungekey slurmctld slurmd sinfo sbatch scontrol; do
  command -v "$tool" >/dev/null 2>&1 || cannot_run "'$tool' is not installed (Debian: apt-get install slurm-wlm munge)"
done
[ -e "$plugin_dir/mpi_pmix.so" ] || cannot_run "no Slurm plugins in $plugin_dir (set SHRIKE_SLURM_PLUGIN_DIR)"

dir=$(mktemp -d "${TMPDIR:-/tmp}/shrike-slurm.XXXXXX")
chmod 755 "$dir"  # munged requires every folder above its socket to be searchable
mkdir -m 755 "$dir/munge" "$dir/state" "$dir/spool" "$dir/dev" "$dir/config"

fail() {
  echo "testcluster: $*" >&2
  for log in "$dir"/munge/munged.log "$dir"/slurmctld.log "$dir"/slurmd.log; do
    [ -e "$log" ] && { echo "--- tail of $log" >&2; tail -n 15 "$log" >&2; }
  done
  bash "$here/stop.sh" "$dir" >&2 || rm -rf "$dir"
  exit 1
}

# Two ports nobody listens on (a free port is one a connection to is refused).
port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 30000))
    if port_is_free "$port" && [ "$port" != "${1:-}" ]; then echo "$port"; return; fi
  done
  return 1
}
ctld_port=$(pick_port) || fail "no free TCP port found"
slurmd_port=$(pick_port "$ctld_port") || fail "no free TCP port found"

cpus=$(nproc)
memory_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
# The fake GPUs: character devices (a copy of /dev/null's numbers) for gres File=.
if ! mknod "$dir/dev/nvidia0" c 1 3 || ! mknod "$dir/dev/nvidia1" c 1 3; then
  rm -rf "$dir"
  cannot_run "mknod failed (a container without CAP_MKNOD?): the fake GPUs need two character devices"
fi

cat >"$dir/slurm.conf" <<EOF
# Written by slurm/testcluster/start.sh for a throw-away single-node test cluster.
ClusterName=shriketest
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
PluginDir=$plugin_dir
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=600
SchedulerParameters=sched_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
GresTypes=gpu
NodeName=localhost CPUs=$cpus RealMemory=$memory_mb Gres=gpu:fake:2 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$dir/gres.conf" <<EOF
AutoDetect=off
Name=gpu Type=fake File=$dir/dev/nvidia[0-1]
EOF

# The site configuration shrike reads (SHRIKE_CONFIG_DIR): the repository's configs,
# with the test catalogue.
cp -r "$repo/configs/." "$dir/config/"
cp "$here/instances.yaml" "$dir/config/instances.yaml"

mungekey --create --keyfile="$dir/munge/munge.key" || fail "mungekey failed"
munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
  --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" || fail "munged did not start"
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" -N localhost || fail "slurmd did not start"

state=""
for _ in $(seq 1 150); do
  state=$(sinfo -h -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || fail "the node did not become idle in 30 s (state '${state:-none}')"

cat >"$dir/cluster.env" <<EOF
export SLURM_CONF=$dir/slurm.conf
export SHRIKE_CONFIG_DIR=$dir/config
export SHRIKE_TESTCLUSTER_DIR=$dir
EOF
cat "$dir/cluster.env"
