#!/usr/bin/env bash
# Run the tests marked `clock` under faked wall clocks, one pytest run per
# office time below, to prove they hold at any hour and on any date.
#
#   tests/clock/run_at.sh                       every time below
#   tests/clock/run_at.sh "2027-02-06 08:59"    one office time (WIB, UTC+7)
#   tests/clock/run_at.sh -- -x -k anomalies    extra pytest arguments after --
#
# The clock is faked with libfaketime (apt-get install -y faketime) as a fixed
# offset from the real clock ("+Ns"), so the faked clock starts at the chosen
# instant and runs on, and every child process (the CLI, a demo server) reads
# the same clock. Not the absolute form "@TIME": with it each child process
# starts again at TIME, so the clock jumps back. Not FAKETIME_DONT_FAKE_MONOTONIC
# either: with libfaketime 0.9.10 it makes Python's time.sleep fail with EINVAL.
# PostgreSQL and Redis are separate processes and keep the real clock, so the
# runs use SQLite only (the app never asks a database or Redis for the time),
# and no browser (Chromium is not run under a faked clock).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-.venv/bin/python}
SELECTION="clock and not postgres and not browser"

# Office wall-clock times (WIB) to run at, each for a reason.
DEFAULT_TIMES=(
    "2026-12-31 23:30"  # New Year's Eve at the office, 16:30 UTC
    "2027-01-01 00:30"  # New Year at the office while UTC is still 2026-12-31 17:30: dates and years differ
    "2027-02-06 08:50"  # first Saturday of a month, before 09:00 WIB and past the 5 minutes the server allows ahead
    "2027-04-30 08:59"  # a month end, the minute before 09:00 WIB (01:59 UTC)
    "2027-03-17 12:00"  # an ordinary noon on a weekday
    "2027-02-28 23:59"  # a month end late at night; the run crosses midnight into 1 March
)

times=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do times+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ "${#times[@]}" -gt 0 ] || times=("${DEFAULT_TIMES[@]}")

# Only the files that hold `clock` tests are collected (collecting the whole suite
# to deselect it cost 7 s of each run); tests/test_clock_runs.py checks that this
# list misses no file whose tests the marker selects.
clock_files() { grep -rlE 'mark\.clock\b' tests --include='test_*.py' | sort; }
if [ "${CLOCK_FILES_ONLY:-}" = 1 ]; then clock_files; exit 0; fi
mapfile -t files < <(clock_files)

command -v faketime >/dev/null || { echo "faketime is missing: apt-get install -y faketime" >&2; exit 1; }
# The suite's timeline (tests/timeline.py) is of real times; these runs' clocks are faked.
unset TEST_TIMELINE

# The runs are independent (each its own faked clock, its own SQLite files), so
# they run side by side, CLOCK_JOBS at a time; each one's output is shown whole,
# in the order of the times, once all are done.
JOBS=${CLOCK_JOBS:-${#times[@]}}
logs=$(mktemp -d "${TMPDIR:-/tmp}/bimbing-clock.XXXXXX")
trap 'rm -rf "$logs"' EXIT

run_one() {
    local when=$1 basetemp=$2; shift 2
    local target spec started
    target=$(date -d "$when +0700" +%s)
    spec=$(printf '%+ds' "$((target - $(date +%s)))")
    echo "==> clock at $when WIB ($(date -ud "@$target" '+%Y-%m-%d %H:%M') UTC), faketime -f $spec"
    # The clock really is faked: Python, a child process and SQLite agree on it.
    faketime -f "$spec" "$PYTHON" - "$target" <<'PY' || return 1
import datetime, sqlite3, subprocess, sys, time
target = int(sys.argv[1])
child = float(subprocess.run([sys.executable, "-c", "import time; print(time.time())"], capture_output=True, text=True, check=True).stdout)
db = sqlite3.connect(":memory:").execute("select strftime('%s', 'now')").fetchone()[0]
readings = {"time.time()": time.time(), "datetime.now()": datetime.datetime.now(datetime.timezone.utc).timestamp(), "a child process": child, "SQLite": float(db)}
off = {name: round(value - target) for name, value in readings.items() if abs(value - target) > 60}
if off:
    sys.exit(f"the faked clock is not in force: seconds off the target {off}")
PY
    started=$(date +%s)
    # A folder of its own: pytest removes numbered folders in /tmp/pytest-of-* whose
    # lock looks three days old, and under a clock faked weeks ahead every lock does,
    # those of the runs beside it (and anyone's) included.
    # The invariant test (tests/test_invariants.py) tries its generated histories in the
    # main run; under each faked clock its kept histories and two generated ones suffice
    # to show the hour changes nothing, at a sixth of the time.
    # No clock file uses schemathesis: its plugin's loading was 2 CPU-s a run.
    if BIMBING_INVARIANT_EXAMPLES=${BIMBING_INVARIANT_EXAMPLES:-2} faketime -f "$spec" "$PYTHON" -m pytest -q -p no:cacheprovider -p no:schemathesis --basetemp "$basetemp" -m "$SELECTION" "${files[@]}" "$@"; then
        echo "==> $when WIB: passed in $(( $(date +%s) - started )) s"
    else
        echo "==> $when WIB: FAILED in $(( $(date +%s) - started )) s"
        return 1
    fi
}

for i in "${!times[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    ( if run_one "${times[$i]}" "$logs/tmp-$i" "$@" > "$logs/$i.log" 2>&1 </dev/null; then echo 0; else echo 1; fi > "$logs/$i.rc" ) &
done
wait

failed=()
for i in "${!times[@]}"; do
    cat "$logs/$i.log"
    [ "$(cat "$logs/$i.rc" 2>/dev/null)" = 0 ] || failed+=("${times[$i]}")
done

if [ "${#failed[@]}" -gt 0 ]; then
    printf '==> clock runs failed at: %s WIB\n' "${failed[@]}" >&2
    exit 1
fi
echo "==> every clock run passed (${#times[@]} times)"
