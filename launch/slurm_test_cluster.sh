#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests and for trying the slurm launcher
# profiles without a real cluster. Needs root; no systemd: the daemons are started directly.
#
#   bash launch/slurm_test_cluster.sh start    # install if missing, configure, start (idempotent)
#   bash launch/slurm_test_cluster.sh stop     # stop the daemons this script started
#   bash launch/slurm_test_cluster.sh status
#
# There is no accounting database (AccountingStorageType=accounting_storage/none): submitit warns
# that `sacct` failed and still collects results from its result files.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid

log() { echo "[slurm_test_cluster] $*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "must run as root (it installs packages and starts daemons)"
    exit 1
  fi
}

install_if_missing() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
     && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return
  fi
  log "installing slurm-wlm and munge (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then
    apt-get update -q
  fi
  apt-get install -y -q --no-install-recommends slurm-wlm munge \
    || { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; }
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
  install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
  install -d -o munge -g munge -m 0755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  if alive "$MUNGE_PID" && munge -n </dev/null | unmunge >/dev/null 2>&1; then
    return
  fi
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGE_PID"
  for _ in $(seq 50); do
    munge -n </dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.1
  done
  log "munged did not come up"; exit 1
}

write_conf() {
  # The node line comes from slurmd itself (real hostname, CPUs, sockets, cores, memory), so
  # slurmd never finds the node smaller than configured and drains it.
  local node host
  node=$(slurmd -C | head -n1)
  host=$(hostname -s)
  install -d -m 0755 "$CONF_DIR" "$STATE" "$SPOOL" "$LOGS"
  cat >"$CONF.new" <<EOF
# Written by launch/slurm_test_cluster.sh: a single-node test cluster, no cgroups, no accounting.
ClusterName=probing-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=300
SlurmdTimeout=60
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  if ! cmp -s "$CONF.new" "$CONF"; then
    mv "$CONF.new" "$CONF"
    return 0
  fi
  rm -f "$CONF.new"
  return 1
}

wait_idle() {
  local host state
  host=$(hostname -s)
  for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case "$state" in
      idle*|mixed*|allocated*) log "node $host is $state"; return ;;
      down*|drain*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
  done
  log "node $host did not become idle (state: ${state:-none}); see $LOGS/"
  exit 1
}

start() {
  need_root
  install_if_missing
  start_munge
  if write_conf && alive "$CTLD_PID"; then
    log "slurm.conf changed: restarting the daemons"
    stop_slurm
  fi
  if ! alive "$CTLD_PID"; then
    log "starting slurmctld"
    slurmctld -c  # -c: a fresh test cluster, no jobs left over from an earlier one
  fi
  if ! alive "$SLURMD_PID"; then
    log "starting slurmd"
    slurmd
  fi
  wait_idle
}

stop_pid() {
  local file=$1 name=$2 pid
  alive "$file" || return 0
  pid=$(cat "$file")
  log "stopping $name ($pid)"
  kill "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

stop_slurm() {
  stop_pid "$SLURMD_PID" slurmd
  stop_pid "$CTLD_PID" slurmctld
}

stop() {
  need_root
  stop_slurm
  stop_pid "$MUNGE_PID" munged
}

status() {
  for f in "$MUNGE_PID" "$CTLD_PID" "$SLURMD_PID"; do
    if alive "$f"; then echo "$(basename "$f" .pid): running ($(cat "$f"))"; else echo "$(basename "$f" .pid): stopped"; fi
  done
  alive "$CTLD_PID" && sinfo || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
