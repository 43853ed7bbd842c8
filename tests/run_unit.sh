#!/bin/sh
# Run every unit test binary in $1; print their output and one total line.
dir=${1:-build/tests}
pass=0; fail=0; status=0
for t in "$dir"/test_*; do
	[ -x "$t" ] || continue
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -v '^[0-9]* passed, [0-9]* failed$' | grep -E 'FAIL|error' || true
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
	if [ -z "$line" ]; then echo "$t: no result line (exit $rc)"; printf '%s\n' "$out" | tail -20; fail=$((fail+1)); status=1; continue; fi
	echo "$(basename "$t"): $line"
	p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
	pass=$((pass+p)); fail=$((fail+f))
	[ "$rc" -eq 0 ] && [ "$f" -eq 0 ] || status=1
done
echo "unit: $pass passed, $fail failed"
exit $status
