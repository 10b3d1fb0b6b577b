# Shared helpers of the CLI end-to-end tests (sourced): check and expect_error count passes and
# failures; the caller prints the summary. Needs PY (a python3 with json).
failures=0
passes=0
check() {  # check NAME PYTHON-ASSERTION  (reads the command's stdout from $out)
  if echo "$out" | "$PY" -c "import json,sys; lines=[json.loads(l) for l in sys.stdin if l.strip()]; $2"; then
    passes=$((passes + 1))
  else
    echo "FAILED: $1"; echo "  output: ${out:0:300}"; failures=$((failures + 1))
  fi
}
expect_error() {  # expect_error NAME STDERR-SUBSTRING CMD...
  local name=$1 needle=$2; shift 2
  local err
  err=$("$@" 2>&1 >/dev/null); local rc=$?
  if [ $rc -ne 0 ] && [[ "$err" == *"$needle"* ]]; then
    passes=$((passes + 1))
  else
    echo "FAILED: $name (rc=$rc, stderr: ${err:0:300})"; failures=$((failures + 1))
  fi
}
