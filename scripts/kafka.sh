#!/usr/bin/env bash
# Local single-node Kafka 3.9 (KRaft, combined broker+controller) for tests and dev.
#
#   scripts/kafka.sh start  [--port N] [--dir D]   # dir <repo>/.kafka; port: see below
#   scripts/kafka.sh stop   [--dir D]
#   scripts/kafka.sh status [--dir D]
#
# Why this exists: these machines have no Docker and no internet beyond package
# registries, so Kafka is fetched as jars from Maven Central (scripts/kafka/pom.xml,
# cached in ~/.m2 and in $dir/libs) and run straight with `java -cp`.
#
# stdout carries only `KAFKA_BROKERS=127.0.0.1:PORT` (on start), so callers can do
#   eval "$(scripts/kafka.sh start)"  &&  export KAFKA_BROKERS
#
# Without --port (or KAFKA_PORT): the port the broker of this dir already runs on, else a free one
# (and the one after it, for the controller), so two checkouts or a checkout and CI on one machine
# never collide.
# Everything else (progress, errors, log tails) goes to stderr.
#
# Exit codes: 0 ok; 1 startup/stop failure; 2 usage error;
#             3 missing prerequisites (java, or mvn when jars are not cached yet);
#             4 could not fetch the Kafka jars through Maven (e.g. Central unreachable).
# Callers that want to skip Kafka-dependent tests gracefully can treat 3 (and 4) as "skip".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/scripts/kafka/pom.xml"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"   # seconds to wait for the broker to be ready
STOP_TIMEOUT=15                              # seconds between TERM and KILL

log() { echo "kafka.sh: $*" >&2; }
die() { local code="$1"; shift; log "ERROR: $*"; exit "$code"; }

usage() {
  sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---- argument parsing -------------------------------------------------------
cmd="${1:-}"; [ -n "$cmd" ] || usage; shift
port="${KAFKA_PORT:-}"
dir="$ROOT/.kafka"
while [ $# -gt 0 ]; do
  case "$1" in
    --port) [ $# -ge 2 ] || usage; port="$2"; shift 2 ;;
    --dir)  [ $# -ge 2 ] || usage; dir="$2";  shift 2 ;;
    -h|--help) usage ;;
    *) log "unknown argument: $1"; usage ;;
  esac
done
# Absolute path: the JVM gets file paths, and the pid file must not depend on cwd.
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac

libs="$dir/libs"
pidfile="$dir/kafka.pid"
logfile="$dir/kafka.log"
props="$dir/server.properties"
log4j="$dir/log4j.properties"

# ---- helpers ----------------------------------------------------------------
check_port() {
  case "$port" in ''|*[!0-9]*) die 2 "--port must be a number, got '$port'" ;; esac
  [ "$port" -ge 1 ] && [ "$port" -le 65534 ] || die 2 "--port out of range: $port"
  ctrl_port=$((port + 1))
}

# A port that is free, with the one after it free too (the controller's), from 20000-29999.
free_port_pair() {
  local candidate tries
  for tries in $(seq 1 100); do
    candidate=$((20000 + RANDOM % 10000))
    if ! port_open "$candidate" && ! port_open $((candidate + 1)); then
      echo "$candidate"
      return 0
    fi
  done
  die 1 "found no free port pair in 20000-29999"
}

# True if something accepts TCP connections on 127.0.0.1:$1 (bash built-in, no nc needed).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Pid from the pid file, only if that process is alive AND is our Kafka JVM
# (guards against a stale pid file whose pid got reused by something else).
running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid="$(cat "$pidfile" 2>/dev/null || true)"
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  kill -0 "$pid" 2>/dev/null || return 1
  local args
  if [ -r "/proc/$pid/cmdline" ]; then args="$(tr '\0' ' ' < "/proc/$pid/cmdline")"
  else args="$(ps -p "$pid" -o args= 2>/dev/null || true)"; fi   # no /proc (macOS)
  case "$args" in *kafka.Kafka*) ;; *) return 1 ;; esac
  echo "$pid"
}

# Port the running broker was configured with (server.properties is rewritten on each start).
configured_port() {
  sed -n 's|^listeners=PLAINTEXT://127\.0\.0\.1:\([0-9]*\),.*|\1|p' "$props" 2>/dev/null
}

tail_log() {
  if [ -f "$logfile" ]; then
    log "---- last 40 lines of $logfile ----"
    tail -n 40 "$logfile" >&2
    log "-----------------------------------"
  fi
}

# Fetch the broker jars into $libs once. The marker stores the pom's checksum, so
# editing the pom (e.g. bumping the Kafka version) triggers a clean re-fetch.
fetch_jars() {
  local want; want="$(cksum < "$POM")"
  if [ -f "$libs/.complete" ] && [ "$(cat "$libs/.complete")" = "$want" ]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 \
    || die 3 "mvn (Maven) not found; it is needed once to fetch the Kafka jars into $libs"
  log "fetching Kafka jars via Maven into $libs (first run only; cached in ~/.m2) ..."
  rm -rf "$libs"; mkdir -p "$libs"
  # -q/-B keep it quiet; all mvn output goes to stderr so our stdout stays clean.
  # (sed drops the stray ANSI colour resets Debian's Maven 3.8 prints even with -q.)
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$libs" 2>&1 \
      | sed 's/\x1b\[[0-9;]*m//g' >&2; then
    rm -rf "$libs"
    die 4 "Maven could not fetch the Kafka jars (is Maven Central reachable?)"
  fi
  echo "$want" > "$libs/.complete"
}

write_config() {
  # Rewritten every start so --port changes take effect; the data itself is in $dir/data.
  cat > "$props" <<EOF
# Generated by scripts/kafka.sh - edits are overwritten on the next start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctrl_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
# Single node: every internal topic must live with replication factor 1.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Tests want consumers to join groups immediately, not after the default 3 s.
group.initial.rebalance.delay.ms=0
num.partitions=4
auto.create.topics.enable=true
EOF

  # Logs go to stdout, which start redirects into kafka.log. WARN keeps the file
  # small; the lifecycle loggers stay at INFO because start waits for the
  # "Kafka Server started" line from KafkaRaftServer.
  cat > "$log4j" <<'EOF'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.ControllerServer=INFO
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=INFO
EOF
}

# Run a Kafka main class with our classpath and logging config.
kjava() { java -Dlog4j.configuration="file:$log4j" -cp "$libs/*" "$@"; }

# First start only: KRaft needs the log dir formatted with a cluster id.
format_storage() {
  [ -f "$dir/data/meta.properties" ] && return 0
  local cid
  if [ -s "$dir/cluster.id" ]; then
    cid="$(cat "$dir/cluster.id")"
  else
    cid="$(kjava kafka.tools.StorageTool random-uuid 2>>"$logfile" | tail -n 1)"
    [ -n "$cid" ] || { tail_log; die 1 "could not generate a cluster id"; }
    echo "$cid" > "$dir/cluster.id"
  fi
  log "formatting storage in $dir/data (cluster id $cid) ..."
  kjava kafka.tools.StorageTool format -t "$cid" -c "$props" --ignore-formatted >>"$logfile" 2>&1 \
    || { tail_log; die 1 "formatting storage failed"; }
}

# Ready = process alive, port accepting connections, and the broker logged that
# it finished starting (in KRaft that is after it has been unfenced, i.e. usable).
wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      tail_log
      die 1 "Kafka exited during startup (see $logfile)"
    fi
    if port_open "$port" && grep -q 'Kafka Server started' "$logfile" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  tail_log
  log "Kafka not ready after ${START_TIMEOUT}s; stopping it"
  do_stop >/dev/null || true
  exit 1
}

# ---- subcommands ------------------------------------------------------------
do_start() {
  command -v java >/dev/null 2>&1 || die 3 "java not found (Kafka needs a JRE, 11+)"

  local pid
  if pid="$(running_pid)"; then
    local cur; cur="$(configured_port)"
    [ -n "$port" ] || port="$cur"
    check_port
    [ "$cur" = "$port" ] || die 1 "Kafka from $dir already runs on port $cur (pid $pid); stop it first"
    # Running: wait_ready returns at once if it is up, or waits if another start is in flight.
    wait_ready "$pid"
    echo "KAFKA_BROKERS=127.0.0.1:$port"
    return 0
  fi
  rm -f "$pidfile"
  [ -n "$port" ] || port="$(free_port_pair)"
  check_port
  for p in "$port" "$ctrl_port"; do
    port_open "$p" && die 1 "port $p is already in use by another process; pick another --port"
  done

  local t0=$SECONDS
  mkdir -p "$dir"
  fetch_jars
  write_config
  # Keep the previous run's log for post-mortems; a fresh file also means the
  # readiness grep cannot match an old "Kafka Server started" line.
  [ -f "$logfile" ] && mv -f "$logfile" "$logfile.prev"
  : > "$logfile"
  format_storage

  log "starting Kafka on 127.0.0.1:$port (controller :$ctrl_port), log $logfile ..."
  # nohup + all fds redirected: the broker outlives this script and does not hold
  # the caller's stdout open (so `$(kafka.sh start)` returns).
  nohup java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$log4j" \
    -cp "$libs/*" kafka.Kafka "$props" >>"$logfile" 2>&1 </dev/null &
  pid=$!
  echo "$pid" > "$pidfile"

  wait_ready "$pid"
  log "Kafka ready (pid $pid) in $((SECONDS - t0))s"
  echo "KAFKA_BROKERS=127.0.0.1:$port"
}

do_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$pidfile"
    log "not running"
    return 0
  fi
  log "stopping Kafka (pid $pid) ..."
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after ${STOP_TIMEOUT}s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  log "stopped"
}

do_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running (pid $pid, 127.0.0.1:$(configured_port))"
  else
    echo "stopped"
    return 1
  fi
}

case "$cmd" in
  start)  do_start ;;
  stop)   do_stop ;;
  status) do_status ;;
  -h|--help|help) usage ;;
  *) log "unknown command: $cmd"; usage ;;
esac
