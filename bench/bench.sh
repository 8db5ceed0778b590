#!/usr/bin/env bash
# bench/bench.sh measures pedns beside the DNS servers Debian ships (unbound,
# dnsmasq) on loopback with dnsperf, and prints one Markdown table.
#
# Scenarios (each run gets a fresh server, and a fresh upstream when it needs
# one):
#   local   1,000 A records in a local zone, answered by the server itself
#   cached  1,000 names forwarded to a loopback upstream that answers CNAME + A;
#           one warm-up pass first, so the measured run is all cache hits
#   miss    a unique name per query, so every query is forwarded
# The upstream is the CNAME + A responder of ../shared/bench/upstream, built
# into the raw-log directory (set UPSTREAM_SRC or UPSTREAM_BIN to change it).
#
# Pinning: the server runs on CPU 1, dnsperf and the upstream on CPU 0 (-n
# turns this off). unbound gets one thread; Go takes GOMAXPROCS=1 from the
# affinity mask. Per run the table reports:
#   qps      answered queries per second (dnsperf)
#   us/q     server CPU time (utime+stime from /proc/PID/stat over the measured
#            run) divided by answered queries
#   p99      99th percentile latency, from dnsperf -v per-query lines
#   lost     queries dnsperf gave up on, percent
#   !NOERR   answers with another rcode than NOERROR, percent
#   srv/gen  CPU use of the server and of dnsperf, percent of one core; a
#            dnsperf near 100 % means the load generator set the pace
#   RSS      peak resident memory of the server (VmHWM), MB
#   up/q     upstream queries per answered query (miss: per miss; cached
#            should be 0)
#   other    CPU time of the whole machine during the run (/proc/stat) that
#            is neither the server's, nor dnsperf's, nor the upstream's, in
#            percent of one core: other people's work shows here, but also
#            kernel time charged to no process (a few percent when quiet)
# and, on each peer's row, pedns's us/q and qps divided by that peer's.
#
# -L runs the large-zone mode instead: zones of 1,000, 100,000 and 1,000,000
# names (-z), for pedns, pedns without its caches (every query takes the
# full path through the zone) and unbound. It reports the load time (from
# process start until a dig for the zone's last name gets its address), RSS after
# load, and qps, us/q and p99 for two query sets: "hot" (1,000 names spread
# over the zone) and "spread" (up to 100,000 random names of the zone).
#
# Everything listens on 127.0.0.1, every run is bounded by dnsperf -l and by
# timeout, servers are stopped by PID, and the whole script runs under a
# timeout of its own. Raw logs stay in the output directory.
#
#   bench/bench.sh                      # 5 s per run, all scenarios and servers
#   bench/bench.sh -r 2 -d 10           # two reps of 10 s; the table shows medians
#   bench/bench.sh -L                   # large zones
#   bench/bench.sh -R /tmp/pedns-bench.X   # print the table of an earlier run again
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

dur=5
reps=1
scenarios=local,cached,miss
servers=pedns,unbound,dnsmasq
pedns_bin=
pedns_b_bin=
out=
large=0
sizes=1000,100000,1000000
clients=10
outstanding=100
pin=1
reprint=
load_max=240
srv_cpu=1
gen_cpu=0

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	cat <<'EOF'
Options:
  -d SECS   length of each measured run (default 5)
  -r N      repetitions of every run; the table shows medians (default 1)
  -s LIST   scenarios, comma separated (default local,cached,miss)
  -S LIST   servers, comma separated, from pedns, unbound, dnsmasq and
            pedns-nocache (pedns with cache size 0, so no reply cache
            either) and pedns-b (the binary of -B) (default
            pedns,unbound,dnsmasq; with -L: pedns,pedns-nocache,unbound)
  -b BIN    use this pedns binary instead of building ./cmd/pedns (static,
            CGO_ENABLED=0 -trimpath -ldflags="-s -w", as deploy/Containerfile)
  -B BIN    a second pedns binary, run as server pedns-b with the same
            configuration: runs alternate, so an A/B comparison of two
            builds sees the same machine (e.g. -S pedns,pedns-b -B /tmp/new)
  -o DIR    write raw logs to DIR (default: a new /tmp/pedns-bench.XXXXXX)
  -c N      dnsperf clients (default 10)
  -q N      dnsperf outstanding queries (default 100)
  -n        do not pin to CPUs
  -L        large-zone mode
  -z LIST   zone sizes for -L (default 1000,100000,1000000)
  -t SECS   -L: longest wait for a zone to load (default 240)
  -R DIR    print the table of an earlier run in DIR and exit
EOF
}

while getopts "d:r:s:S:b:B:o:c:q:nLz:t:R:h" opt; do
	case $opt in
	d) dur=$OPTARG ;;
	r) reps=$OPTARG ;;
	s) scenarios=$OPTARG ;;
	S) servers=$OPTARG ;;
	b) pedns_bin=$OPTARG ;;
	B) pedns_b_bin=$OPTARG ;;
	o) out=$OPTARG ;;
	c) clients=$OPTARG ;;
	q) outstanding=$OPTARG ;;
	n) pin=0 ;;
	L) large=1 ;;
	z) sizes=$OPTARG ;;
	t) load_max=$OPTARG ;;
	R) reprint=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
if [[ $large == 1 && $servers == pedns,unbound,dnsmasq ]]; then
	servers=pedns,pedns-nocache,unbound
fi
IFS=, read -r -a scen_list <<<"$scenarios"
IFS=, read -r -a srv_list <<<"$servers"
IFS=, read -r -a size_list <<<"$sizes"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $(date +%T) $*" >&2; }

# ---------------------------------------------------------------- summaries

# print_table DIR: one Markdown table from DIR/results.tsv, medians over reps.
print_table() {
	awk -F'\t' -v scen="$(cat "$1/scenarios")" -v srvs="$(cat "$1/servers")" '
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j-1]; a[j-1] = t
			}
		if (n == 0) return ""
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	function spread(s,   a, n, i, lo, hi, m) {
		n = split(s, a, " ")
		if (n < 2) return ""
		lo = hi = a[1]
		for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
		m = median(s)
		return m > 0 ? sprintf(" ±%.0f%%", 50 * (hi - lo) / m) : ""
	}
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{
		k = $col["scenario"] SUBSEP $col["server"]
		for (c in col) v[k, c] = v[k, c] " " $col[c]
		n[k]++
	}
	END {
		ns = split(scen, S, ",")
		nv = split(srvs, V, ",")
		printf "| scenario | server | qps | us/q | p99 ms | lost %% | !NOERR %% "
		printf "| srv CPU %% | gen CPU %% | peak RSS MB | up/q | other CPU %% "
		print "| pedns/peer us/q | pedns/peer qps |"
		print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (i = 1; i <= ns; i++) {
			pk = S[i] SUBSEP "pedns"
			pq = median(v[pk, "qps"]); pu = median(v[pk, "usq"])
			for (j = 1; j <= nv; j++) {
				k = S[i] SUBSEP V[j]
				if (!(k in n)) continue
				q = median(v[k, "qps"]); u = median(v[k, "usq"])
				rq = ru = "—"
				if (V[j] != "pedns" && pq != "" && q > 0 && u > 0) {
					ru = sprintf("%.2f", pu / u); rq = sprintf("%.2f", pq / q)
				}
				up = S[i] == "local" ? "—" : sprintf("%.2f", median(v[k, "upq"]))
				printf "| %s | %s | %.0f | %.1f%s | %.2f | %.2f | %.2f ", S[i], V[j], q, u,
					spread(v[k, "usq"]), median(v[k, "p99ms"]),
					median(v[k, "lostpct"]), median(v[k, "errpct"])
				printf "| %.0f | %.0f | %.1f | %s | %.0f | %s | %s |\n",
					median(v[k, "srvcpu"]), median(v[k, "gencpu"]),
					median(v[k, "rssmb"]), up, median(v[k, "other"]), ru, rq
			}
		}
		printf "\n%d run(s) per row; figures are medians", n[S[1] SUBSEP V[1]]
		print (n[S[1] SUBSEP V[1]] > 1 ? ", ±x% is half the us/q range over the median." : ".")
	}' "$1/results.tsv"
}

# print_large DIR: the table of the large-zone mode from DIR/large.tsv.
print_large() {
	echo -n "| zone names | server | load s | RSS after load MB | query set | qps | us/q "
	echo "| p99 ms | lost % | !NOERR % | peak RSS MB | other CPU % |"
	echo "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' 'NR > 1 {
		printf "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
	}' "$1/large.tsv"
}

if [[ -n $reprint ]]; then
	[[ -f $reprint/results.tsv ]] && print_table "$reprint"
	[[ -f $reprint/large.tsv ]] && print_large "$reprint"
	exit 0
fi

# ------------------------------------------------- one timeout around it all

if [[ -z ${PEDNS_BENCH_INNER:-} ]]; then
	if [[ $large == 1 ]]; then
		budget=$((300 + ${#size_list[@]} * ${#srv_list[@]} * (load_max + 4 * dur + 120)))
	else
		budget=$((300 + reps * ${#scen_list[@]} * ${#srv_list[@]} * (dur + 60)))
	fi
	exec timeout -k 20 "$budget" env PEDNS_BENCH_INNER="$budget" bash "$0" "$@"
fi

for tool in dnsperf dig taskset timeout ss go; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
for s in "${srv_list[@]}"; do
	case $s in
	pedns | pedns-nocache) ;;
	pedns-b) [[ -x $pedns_b_bin ]] || die "pedns-b needs -B with an executable pedns" ;;
	unbound | dnsmasq) command -v "$s" >/dev/null || PATH=$PATH:/usr/sbin
		command -v "$s" >/dev/null || die "$s not found" ;;
	*) die "unknown server $s" ;;
	esac
done

out=${out:-$(mktemp -d /tmp/pedns-bench.XXXXXX)}
mkdir -p "$out/data" "$out/runs"
echo "$scenarios" >"$out/scenarios"
echo "$servers" >"$out/servers"
log "raw logs in $out (overall timeout ${PEDNS_BENCH_INNER}s)"

# ---------------------------------------------------------------- processes

# Every process we start runs under timeout -s KILL, so none outlives its
# run even if this script is killed; started holds the PIDs still running.
declare -A started=()

cleanup() {
	local p
	for p in "${!started[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${!started[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# launch CPU LIFE LOG CMD...: starts CMD in the background, pinned to CPU
# unless pinning is off, killed after LIFE seconds at the latest. Sets
# wrap_pid (the timeout process) and proc_pid (CMD itself).
launch() {
	local cpu=$1 life=$2 logf=$3 i
	shift 3
	if [[ $pin == 1 ]]; then
		taskset -c "$cpu" timeout -s KILL "$life" "$@" </dev/null >"$logf" 2>&1 &
	else
		timeout -s KILL "$life" "$@" </dev/null >"$logf" 2>&1 &
	fi
	wrap_pid=$!
	proc_pid=
	for ((i = 0; i < 200; i++)); do
		proc_pid=$(pgrep -P "$wrap_pid" | head -n 1 || true)
		[[ -n $proc_pid ]] && break
		sleep 0.01
	done
	[[ -n $proc_pid ]] || die "could not start $*"
	started[$proc_pid]=1
	started[$wrap_pid]=1
}

# stop PID WRAP: SIGTERM to PID, SIGKILL after 5 s, then reaps WRAP.
stop() {
	local pid=$1 wrap=$2 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$wrap" 2>/dev/null || true
	unset "started[$pid]" "started[$wrap]"
}

# free_port: a UDP and TCP port nobody listens on, from 20000-29999.
free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 10000))
		if ! ss -Hlnut | awk '{print $5}' | grep -q ":$p\$"; then
			echo "$p"
			return
		fi
	done
	die "no free port"
}

# cpu_ticks PID: utime+stime of PID in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# status_mb PID KEY: a VmXXX figure of /proc/PID/status in MB.
status_mb() { awk -v k="$2:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# busy_ticks: non-idle clock ticks of all CPUs together (/proc/stat).
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# quiet_machine: waits (up to 2 minutes) while someone else's dnsperf or
# shared harness runs, so that two load runs never overlap.
quiet_machine() {
	local i
	for ((i = 0; i < 240; i++)); do
		pgrep -x dnsperf >/dev/null || pgrep -f 'bench/run\.sh' >/dev/null || return 0
		((i == 0)) && log "another dnsperf is running; waiting"
		sleep 0.5
	done
	log "another dnsperf is still running; measuring anyway (see other CPU %)"
}

# answers PORT NAME WANT: whether a dig for NAME gets WANT as its last line.
answers() {
	local got
	got=$(timeout 3 dig +short +tries=1 +time=1 @127.0.0.1 -p "$1" "$2" A 2>/dev/null |
		tail -n 1 || true)
	[[ $got == "$3" ]]
}

# wait_answer PORT NAME WANT SECS: polls until the answer comes; prints the
# seconds since start_ns (set by the caller) or fails after SECS.
wait_answer() {
	local deadline=$(($(date +%s) + $4))
	while (($(date +%s) < deadline)); do
		if answers "$1" "$2" "$3"; then
			awk -v a="$start_ns" -v b="$(date +%s%N)" 'BEGIN {printf "%.2f", (b - a) / 1e9}'
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# upstream_count PID LOG: the query count of our upstream (it prints it on
# SIGUSR1).
upstream_count() {
	local before i
	before=$(grep -c 'queries=' "$2" || true)
	kill -USR1 "$1"
	for ((i = 0; i < 100; i++)); do
		(($(grep -c 'queries=' "$2" || true) > before)) && break
		sleep 0.02
	done
	grep 'queries=' "$2" | tail -n 1 | sed 's/.*queries=//'
}

# ---------------------------------------------------------------- binaries

bin=$out/bin
mkdir -p "$bin"
if [[ -z $pedns_bin ]]; then
	log "building pedns from $repo"
	# As deploy/Containerfile and the systemd notes build it: static, no libc.
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$bin/pedns" \
		./cmd/pedns)
	pedns_bin=$bin/pedns
fi
[[ -x $pedns_bin ]] || die "$pedns_bin is not executable"
if [[ $large == 0 ]] && printf '%s\n' "${scen_list[@]}" | grep -qv '^local$'; then
	if [[ -n ${UPSTREAM_BIN:-} ]]; then
		up_bin=$UPSTREAM_BIN
	else
		src=${UPSTREAM_SRC:-$repo/../shared/bench/upstream}
		[[ -d $src ]] || die "no upstream source in $src (set UPSTREAM_SRC or UPSTREAM_BIN)"
		log "building the upstream from $src"
		(cd "$src" && go build -o "$bin/upstream" .)
		up_bin=$bin/upstream
	fi
fi

# ---------------------------------------------------------------- test data

lzone=privatelink.api.azureml.ms
fzone=api.azureml.ms

# gen_zone N PREFIX DIR: a local zone of N A records PREFIX%07d.workspace.eastus
# in the three forms the servers read, and the list of its names.
gen_zone() {
	local n=$1 prefix=$2 d=$3
	mkdir -p "$d"
	awk -v n="$n" -v p="$prefix" -v z="$lzone" -v d="$d" 'BEGIN {
		zf = d "/zone.db"; uf = d "/unbound-local-data.conf"
		hf = d "/hosts.txt"; nf = d "/names.txt"
		print "$TTL 3600" > zf
		print "@ IN SOA ns." z ". hostmaster." z ". 1 3600 600 86400 60" > zf
		print "@ IN NS ns." z "." > zf
		print "ns IN A 127.0.0.1" > zf
		for (i = 0; i < n; i++) {
			h = sprintf("%s%07d.workspace.eastus", p, i)
			ip = sprintf("10.%d.%d.%d", 1 + int(i / 65536), int(i / 256) % 256, i % 256)
			print h " IN A " ip > zf
			print "local-data: \"" h "." z ". 3600 IN A " ip "\"" > uf
			print ip " " h "." z > hf
			print h "." z " " ip > nf
		}
	}'
}

data=$out/data
if [[ $large == 0 ]]; then
	log "writing the test data"
	gen_zone 1000 w "$data/local"
	awk '{print $1, "A"}' "$data/local/names.txt" >"$data/local.queries"
	sed "s/\\.$lzone A\$/.$fzone A/" "$data/local.queries" >"$data/cached.queries"
	# Unique names for miss: i times an odd constant modulo 2^32 never repeats.
	# They have the shape of the cached names (and of Azure's): dnsmasq's name
	# hash copes badly with some others, e.g. m%08x.miss.api.azureml.ms gave
	# it a tenth of the throughput.
	miss_n=$((150000 * dur > 400000 ? 150000 * dur : 400000))
	awk -v n="$miss_n" -v z="$fzone" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "u%08x.workspace.eastus.%s A\n", (i * 2654435761) % 4294967296, z
	}' >"$data/miss.queries"
fi

# ---------------------------------------------------------------- configs

# write_config SERVER SCENARIO DIR PORT UPPORT ZONEDIR: the server's config
# in DIR; prints the command line that serves it in the foreground.
write_config() {
	local s=$1 sc=$2 d=$3 port=$4 up=$5 zd=$6
	case $s in
	pedns | pedns-nocache | pedns-b)
		{
			echo "listen: [\"127.0.0.1:$port\"]"
			echo "allow: [\"127.0.0.0/8\"]"
			echo "log: {level: warn}"
			[[ $s == pedns-nocache ]] && echo "cache: {size: 0}"
			if [[ $sc == local ]]; then
				echo "zones:"
				echo "  - name: $lzone"
				echo "    file: $zd/zone.db"
			else
				echo "forward:"
				echo "  - zones: [$fzone]"
				echo "    upstreams: [\"127.0.0.1:$up\"]"
			fi
		} >"$d/pedns.yaml"
		if [[ $s == pedns-b ]]; then
			echo "$pedns_b_bin serve -c $d/pedns.yaml"
		else
			echo "$pedns_bin serve -c $d/pedns.yaml"
		fi
		;;
	unbound)
		{
			echo "server:"
			echo "  interface: 127.0.0.1@$port"
			echo "  port: $port"
			echo "  do-ip6: no"
			echo "  do-daemonize: no"
			echo "  chroot: \"\""
			echo "  username: \"\""
			echo "  directory: \"$d\""
			echo "  pidfile: \"\""
			echo "  use-syslog: no"
			echo "  logfile: \"\""
			echo "  verbosity: 0"
			echo "  num-threads: 1"
			echo "  module-config: \"iterator\""
			echo "  access-control: 127.0.0.0/8 allow"
			echo "  do-not-query-localhost: no"
			if [[ $sc == local ]]; then
				echo "  local-zone: \"$lzone.\" static"
				echo "  include: \"$zd/unbound-local-data.conf\""
			else
				echo "forward-zone:"
				echo "  name: \"$fzone.\""
				echo "  forward-addr: 127.0.0.1@$up"
			fi
			# Every other name goes to the loopback upstream port too
			# (which refuses it), so that nothing leaves the machine.
			echo "forward-zone:"
			echo "  name: \".\""
			echo "  forward-addr: 127.0.0.1@$up"
		} >"$d/unbound.conf"
		echo "unbound -d -c $d/unbound.conf"
		;;
	dnsmasq)
		{
			echo "port=$port"
			echo "listen-address=127.0.0.1"
			echo "bind-interfaces"
			echo "keep-in-foreground"
			echo "user=root"
			echo "pid-file="
			echo "no-resolv"
			echo "no-poll"
			echo "no-hosts"
			echo "cache-size=10000"
			if [[ $sc == local ]]; then
				echo "local=/$lzone/"
				echo "addn-hosts=$zd/hosts.txt"
				echo "local-ttl=3600"
			else
				echo "server=/$fzone/127.0.0.1#$up"
			fi
		} >"$d/dnsmasq.conf"
		echo "dnsmasq --conf-file=$d/dnsmasq.conf"
		;;
	esac
}

# ---------------------------------------------------------------- one load run

# measure DIR PORT PID QUERIES NFLAG: one dnsperf run of dur seconds against
# PORT while watching server PID. Sets m_* variables.
measure() {
	local d=$1 port=$2 pid=$3 qf=$4 nflag=$5 t0 t1
	quiet_machine
	local b0 b1 c0=0 c1=0
	[[ -n ${up_pid:-} ]] && c0=$(cpu_ticks "$up_pid")
	b0=$(busy_ticks)
	t0=$(cpu_ticks "$pid")
	local TIMEFORMAT='%U %S %R'
	local -a pincmd=()
	[[ $pin == 1 ]] && pincmd=(taskset -c "$gen_cpu")
	# shellcheck disable=SC2086
	{ time "${pincmd[@]}" timeout -s KILL $((dur + 30)) dnsperf -s 127.0.0.1 -p "$port" \
		-d "$qf" -c "$clients" -q "$outstanding" -l "$dur" $nflag -v \
		>"$d/dnsperf.out" 2>"$d/dnsperf.err"; } 2>"$d/dnsperf.time" || true
	t1=$(cpu_ticks "$pid")
	b1=$(busy_ticks)
	[[ -n ${up_pid:-} ]] && c1=$(cpu_ticks "$up_pid")
	m_rss=$(status_mb "$pid" VmHWM)
	grep -v '^>' "$d/dnsperf.out" >"$d/dnsperf.summary" || true
	awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v tm="$(cat "$d/dnsperf.time")" \
		-v busy="$((b1 - b0 - (c1 - c0)))" '
	/^> / {
		n++; lat = $NF * 1e6; b = int(lat / 10); h[b]++; if (b > mb) mb = b
		if ($2 != "NOERROR") bad++
	}
	/Queries completed:/ { done = $3 }
	/Queries lost:/ { lost = $3 }
	/Queries sent:/ { sent = $3 }
	/Run time \(s\):/ { rt = $4 }
	/Queries per second:/ { qps = $4 }
	function max0(x) { return x > 0 ? x : 0 }
	END {
		# p50 and p99 from a histogram of 10 us buckets.
		c = 0; p50 = p99 = 0
		for (b = 0; b <= mb; b++) {
			c += h[b]
			if (!p50 && c >= 0.50 * n) p50 = (b + 1) / 100
			if (!p99 && c >= 0.99 * n) { p99 = (b + 1) / 100; break }
		}
		split(tm, T, " ")
		printf "%.0f %.2f %.3f %.3f %.3f %.3f %.1f %.1f %d %.0f\n",
			qps, (done > 0 ? t * 1e6 / hz / done : 0), p50, p99,
			(sent > 0 ? 100 * lost / sent : 0), (n > 0 ? 100 * bad / n : 0),
			(rt > 0 ? 100 * t / hz / rt : 0),
			(T[3] > 0 ? 100 * (T[1] + T[2]) / T[3] : 0), done,
			(T[3] > 0 ? max0(100 * ((busy - t) / hz - T[1] - T[2]) / T[3]) : 0)
	}' "$d/dnsperf.out" >"$d/metrics"
	read -r m_qps m_usq m_p50 m_p99 m_lost m_err m_srvcpu m_gencpu m_done m_other <"$d/metrics"
	if grep -q 'end of file' "$d/dnsperf.summary"; then
		log "  $d: dnsperf ran out of queries before the time limit"
	fi
	# Keep the per-query lines compressed: they are large.
	gzip -f "$d/dnsperf.out"
}

# warm DIR PORT QUERIES: one pass over QUERIES, not measured.
warm() {
	local -a pincmd=()
	[[ $pin == 1 ]] && pincmd=(taskset -c "$gen_cpu")
	"${pincmd[@]}" timeout -s KILL 120 dnsperf -s 127.0.0.1 -p "$2" -d "$3" \
		-c "$clients" -q "$outstanding" -n 1 -l 100 >"$1/warmup.out" 2>&1 || true
}

run_one() {
	local sc=$1 s=$2 rep=$3 d port up=0 up_pid= up_wrap= cmd u0= u1= name want nflag=
	d=$out/runs/$sc-$s-$rep
	mkdir -p "$d"
	port=$(free_port)
	if [[ $sc != local ]]; then
		up=$(free_port)
		launch "$gen_cpu" $((dur + 300)) "$d/upstream.log" "$up_bin" -addr "127.0.0.1:$up" -workers 1
		up_pid=$proc_pid up_wrap=$wrap_pid
		# The upstream answers with a hashed address; any 10.2.x.y will do.
		local i
		for ((i = 0; i < 100; i++)); do
			timeout 3 dig +short +tries=1 +time=1 @127.0.0.1 -p "$up" "ready.$fzone" A 2>/dev/null |
				grep -q '^10\.2\.' && break
			sleep 0.05
		done
		((i < 100)) || die "upstream on port $up does not answer"
	fi
	cmd=$(write_config "$s" "$sc" "$d" "$port" "$up" "$data/local")
	echo "$cmd" >"$d/command"
	# shellcheck disable=SC2086
	launch "$srv_cpu" $((dur + 300)) "$d/server.log" $cmd
	local pid=$proc_pid wrap=$wrap_pid
	case $sc in
	local) name=w0000000.workspace.eastus.$lzone want=10.1.0.0 ;;
	cached) name=w0000000.workspace.eastus.$fzone want= ;;
	miss) name=ready.miss.$fzone want= ;;
	esac
	start_ns=$(date +%s%N)
	local ok=0
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		if [[ -n $want ]]; then
			answers "$port" "$name" "$want" && { ok=1; break; }
		else
			timeout 3 dig +short +tries=1 +time=1 @127.0.0.1 -p "$port" "$name" A 2>/dev/null |
				grep -q '^10\.2\.' && { ok=1; break; }
		fi
		sleep 0.05
	done
	if [[ $ok == 0 ]]; then
		cat "$d/server.log" >&2
		stop "$pid" "$wrap"
		[[ -n $up_pid ]] && stop "$up_pid" "$up_wrap"
		die "$s ($sc) does not answer $name on port $port"
	fi
	grep -E '^(Cpus_allowed_list|Threads)' "/proc/$pid/status" >"$d/proc-status"
	case $sc in
	local) warm "$d" "$port" "$data/local.queries" ;;
	cached) warm "$d" "$port" "$data/cached.queries" ;;
	esac
	[[ -n $up_pid ]] && u0=$(upstream_count "$up_pid" "$d/upstream.log")
	local qf=$data/$sc.queries
	[[ $sc == miss ]] && nflag="-n 1"
	measure "$d" "$port" "$pid" "$qf" "$nflag"
	local upq=0
	if [[ -n $up_pid ]]; then
		u1=$(upstream_count "$up_pid" "$d/upstream.log")
		upq=$(awk -v a="$u0" -v b="$u1" -v n="$m_done" 'BEGIN {printf "%.3f", (n > 0 ? (b - a) / n : 0)}')
		echo "upstream queries during the run: $((u1 - u0))" >>"$d/upstream.log"
	fi
	stop "$pid" "$wrap"
	[[ -n $up_pid ]] && stop "$up_pid" "$up_wrap"
	printf '%s\t' "$sc" "$s" "$rep" "$m_qps" "$m_usq" "$m_p50" "$m_p99" "$m_lost" "$m_err" \
		"$m_srvcpu" "$m_gencpu" "$m_rss" "$upq" "$m_other" >>"$out/results.tsv"
	printf '%s\n' "$m_done" >>"$out/results.tsv"
	log "  $sc $s rep $rep: ${m_qps} qps, ${m_usq} us/q, p99 ${m_p99} ms," \
		"lost ${m_lost}%, !NOERROR ${m_err}%, RSS ${m_rss} MB, up/q $upq," \
		"other CPU ${m_other}%"
	if [[ -s $d/server.log ]]; then
		log "  $s wrote to its log: $(head -c 300 "$d/server.log" | tr '\n' ' ')"
	fi
}

# ---------------------------------------------------------------- large zones

run_large() {
	local n=$1 s=$2 d zd port cmd pid wrap last want load rss set qf
	zd=$data/large-$n
	d=$out/runs/large-$n-$s
	mkdir -p "$d"
	port=$(free_port)
	# A discard port for unbound's "." forwarder: nothing listens there.
	cmd=$(write_config "$s" local "$d" "$port" "$(free_port)" "$zd")
	echo "$cmd" >"$d/command"
	last=$(tail -n 1 "$zd/names.txt")
	want=${last#* }
	last=${last% *}
	quiet_machine
	start_ns=$(date +%s%N)
	# shellcheck disable=SC2086
	launch "$srv_cpu" $((load_max + 4 * dur + 120)) "$d/server.log" $cmd
	pid=$proc_pid wrap=$wrap_pid
	if ! load=$(wait_answer "$port" "$last" "$want" "$load_max"); then
		log "  $s did not answer within ${load_max}s with $n names"
		printf '%s\t%s\tno answer in %ss\t%s\t-\t-\t-\t-\t-\t-\t%s\t-\n' "$n" "$s" "$load_max" \
			"$(status_mb "$pid" VmRSS 2>/dev/null || echo -)" \
			"$(status_mb "$pid" VmHWM 2>/dev/null || echo -)" >>"$out/large.tsv"
		stop "$pid" "$wrap"
		return
	fi
	rss=$(status_mb "$pid" VmRSS)
	log "  $s with $n names: answered after ${load}s, RSS ${rss} MB"
	for set in hot spread; do
		qf=$zd/$set.queries
		mkdir -p "$d/$set"
		warm "$d/$set" "$port" "$qf"
		measure "$d/$set" "$port" "$pid" "$qf" ""
		printf '%s\t' "$n" "$s" "$load" "$rss" "$set" "$m_qps" "$m_usq" "$m_p99" "$m_lost" \
			"$m_err" "$m_rss" >>"$out/large.tsv"
		printf '%s\n' "$m_other" >>"$out/large.tsv"
		log "    $set: ${m_qps} qps, ${m_usq} us/q, p99 ${m_p99} ms, lost ${m_lost}%," \
			"peak RSS ${m_rss} MB"
	done
	stop "$pid" "$wrap"
	if [[ -s $d/server.log ]]; then
		log "  $s wrote to its log: $(head -c 300 "$d/server.log" | tr '\n' ' ')"
	fi
}

if [[ $large == 1 ]]; then
	printf '%s\t' names server load_s rss_load_mb set qps usq p99ms lostpct errpct rssmb \
		>"$out/large.tsv"
	echo other >>"$out/large.tsv"
	for n in "${size_list[@]}"; do
		log "writing a zone of $n names"
		gen_zone "$n" h "$data/large-$n"
		zd=$data/large-$n
		awk -v n="$n" '{ if ((NR - 1) % int(n / (n < 1000 ? n : 1000)) == 0) print $1, "A" }' \
			"$zd/names.txt" >"$zd/hot.queries"
		# Random names of the zone; repeats are fine, the sample is large.
		m=$((n < 100000 ? n : 100000))
		awk -v n="$n" -v m="$m" -v z="$lzone" 'BEGIN {
			srand(7)
			for (i = 0; i < m; i++)
				printf "h%07d.workspace.eastus.%s A\n", int(rand() * n), z
		}' >"$zd/spread.queries"
		for s in "${srv_list[@]}"; do
			case $s in dnsmasq) log "skip $s in -L" ;; *) run_large "$n" "$s" ;; esac
		done
	done
	echo
	print_large "$out"
	echo
	echo "raw logs: $out"
	exit 0
fi

printf '%s\t' scenario server rep qps usq p50ms p99ms lostpct errpct srvcpu gencpu rssmb upq \
	other >"$out/results.tsv"
echo done >>"$out/results.tsv"
for ((rep = 1; rep <= reps; rep++)); do
	for sc in "${scen_list[@]}"; do
		for s in "${srv_list[@]}"; do
			log "$sc $s rep $rep"
			run_one "$sc" "$s" "$rep"
		done
	done
done
echo
print_table "$out"
echo
echo "raw logs: $out"
