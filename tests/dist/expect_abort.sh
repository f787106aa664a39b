#!/usr/bin/env bash
# expect_abort.sh SECONDS COMMAND...: passes when COMMAND (an MPI job in which one rank dies of an
# uncaught error) ends by itself within SECONDS, with a non-zero status and the error's message.
set -u
limit=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
timeout --kill-after=10 "$limit" "$@" >"$out" 2>&1
rc=$?
cat "$out"
echo "exit status $rc after $(($(date +%s) - start)) s"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "FAIL: the job hung (killed after ${limit} s)"; exit 1; fi
if [ "$rc" -eq 0 ]; then echo "FAIL: the job succeeded"; exit 1; fi
if ! grep -q "\[rank 1 of 2\] uncaught exception: Cannot feed value of shape \[3\] for Tensor 'x:0'" "$out"; then
  echo "FAIL: rank 1's error is not in the output"; exit 1
fi
if grep -q "the step returned" "$out"; then echo "FAIL: a rank went on past the failed step"; exit 1; fi
echo "PASS"
