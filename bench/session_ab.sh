#!/bin/bash
# A/B of session_bench's per-node overhead between two benchmark builds (each a build-bench directory):
#   bash bench/session_ab.sh BEFORE_BUILD AFTER_BUILD [ROUNDS]
# alternating runs; prints the min and median CPU µs per benchmark and build.
A=$1; B=$2; N=${3:-10}
for i in $(seq $N); do
  for b in "$A" "$B"; do
    $b/session_bench --benchmark_filter='Overhead.*/(0|100)$' --benchmark_min_time=0.2 --benchmark_format=csv 2>/dev/null \
      | grep '^"BM_' | awk -F, -v b="$b" '{gsub(/"/,"",$1); print b, $1, $4}'
  done
done | python3 -c "
import sys, statistics, collections
d=collections.defaultdict(list)
for line in sys.stdin:
    b,name,cpu=line.split(); d[(b,name)].append(float(cpu))
for (b,name),v in sorted(d.items()):
    print(f'{b:40s} {name:32s} min {min(v):8.3f} median {statistics.median(v):8.3f} us (n={len(v)})')
"
