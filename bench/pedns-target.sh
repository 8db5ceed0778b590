#!/usr/bin/env bash
# Starts pedns in the foreground for one benchmark run: writes a configuration from
# the BENCH_* variables that the benchmark harness exports (port, scenario, zone
# file, upstream) and execs pedns serve with it. Every address is on loopback.
#
#   PEDNS_BIN=/path/to/pedns bench/pedns-target.sh
set -euo pipefail
: "${BENCH_PORT:?}" "${BENCH_DIR:?}" "${BENCH_SCENARIO:?}"
bin=${PEDNS_BIN:-pedns}
cfg="$BENCH_DIR/pedns.yaml"

{
  echo "listen: [\"127.0.0.1:$BENCH_PORT\"]"
  echo "allow: [\"127.0.0.0/8\"]"
  echo "log: {level: warn}"
  case "$BENCH_SCENARIO" in
    local)
      echo "zones:"
      echo "  - name: ${BENCH_LOCAL_ZONE:-privatelink.api.azureml.ms}"
      echo "    file: $BENCH_ZONE_FILE"
      ;;
    cached|miss)
      echo "forward:"
      echo "  - zones: [${BENCH_FWD_ZONE:-api.azureml.ms}]"
      echo "    upstreams: [\"$BENCH_UPSTREAM\"]"
      echo "cache: {size: ${PEDNS_CACHE_SIZE:-10000}}"
      ;;
  esac
} >"$cfg"

exec "$bin" serve -c "$cfg"
