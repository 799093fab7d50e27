#!/usr/bin/env bash
# A one-machine Slurm cluster for trying the Slurm scripts and for the Slurm test: munged, slurmctld and slurmd,
# run as root, on free loopback ports, with every file under DIR. Debian's slurm-wlm and munge
# (ops/install-deps.sh --test installs them).
#
#   ops/slurm/local-cluster.sh start DIR   # prints SLURM_CONF=DIR/slurm.conf once the node is idle
#   ops/slurm/local-cluster.sh stop DIR    # stops the daemons by the PIDs in their pid files
#
# Exit status 2 from `start` means the daemons could not start here (not root, no munge user, a sandbox that
# forbids them); the log lines say why.
set -euo pipefail

command=${1:?usage: local-cluster.sh start|stop DIR}
dir=${2:?usage: local-cluster.sh start|stop DIR}

stop() {
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
}

cannot() {
    echo "local-cluster: cannot start Slurm here: $*" >&2
    stop
    exit 2
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$command" in
stop)
    stop
    exit 0
    ;;
start) ;;
*)
    echo "usage: local-cluster.sh start|stop DIR" >&2
    exit 64
    ;;
esac

for program in munged mungekey slurmctld slurmd sinfo sbatch; do
    command -v "$program" >/dev/null || { echo "local-cluster: $program is missing: run ops/install-deps.sh --test" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || cannot "the daemons run as root here, and this is uid $(id -u)"
id munge >/dev/null 2>&1 || cannot "there is no munge user (the munge package creates it)"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)
chmod 755 "$dir"
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chown munge:munge "$dir/munge"
chmod 700 "$dir/munge"
if [ ! -f "$dir/munge/munge.key" ]; then
    mungekey --create --keyfile "$dir/munge/munge.key" >/dev/null 2>&1 || cannot "mungekey failed"
fi
chown munge:munge "$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"

socket="$dir/munge/munge.socket"
runuser -u munge -- munged --socket="$socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
    --force 2>"$dir/log/munged.err" || cannot "munged did not start: $(cat "$dir/log/munged.err" "$dir/munge/munged.log" 2>/dev/null | tail -3)"

host=$(hostname -s)
cpus=$(nproc)
memory=$(awk '/MemTotal/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)
cat >"$dir/slurm.conf" <<CONF
ClusterName=flywheel
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
MaxArraySize=10000
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=flywheel Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld -f "$dir/slurm.conf" 2>"$dir/log/slurmctld.err" \
    || cannot "slurmctld did not start: $(tail -3 "$dir/log/slurmctld.err" "$dir/log/slurmctld.log" 2>/dev/null)"
slurmd -f "$dir/slurm.conf" 2>"$dir/log/slurmd.err" \
    || cannot "slurmd did not start: $(tail -3 "$dir/log/slurmd.err" "$dir/log/slurmd.log" 2>/dev/null)"

export SLURM_CONF="$dir/slurm.conf"
for _ in $(seq 150); do
    state=$(sinfo -h -o %T 2>/dev/null | head -1 || true)
    case "$state" in idle | mixed | allocated) echo "SLURM_CONF=$dir/slurm.conf"; exit 0 ;; esac
    sleep 0.2
done
cannot "the node did not become idle within 30 s (state: ${state:-none}): $(tail -3 "$dir/log/slurmd.log" "$dir/log/slurmctld.log" 2>/dev/null)"
