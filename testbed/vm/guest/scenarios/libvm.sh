# shellcheck shell=sh
# The library crates' real-kernel tests (tests/vm.rs), one check per test and
# one per binary. They start from num_vfs 0 and must leave it at 0.
for crate in sysfs-sriov netlink-vf; do
    bin=/tb/bin/vm-$crate
    if [ ! -x "$bin" ]; then
        fail "libvm.$crate" "test binary missing: $(grep "^vm-$crate " /tb/MISSING | cut -d' ' -f2-)"
        continue
    fi
    reset_host
    SRIOV_TESTBED_PF=$PF timeout 600 "$bin" --test-threads=1 >/tmp/libvm.out 2>&1
    rc=$?
    indent 300 </tmp/libvm.out
    grep -E '^test .* \.\.\. (ok|FAILED|ignored)' /tmp/libvm.out | while read -r _ name _ res; do
        case $res in
            ok) pass "libvm.$crate.$name" "" ;;
            ignored) note "libvm.$crate.$name ignored" ;;
            *) fail "libvm.$crate.$name" "see the log" ;;
        esac
    done
    summary=$(grep -E '^test result:' /tmp/libvm.out | tail -n1)
    if [ $rc -eq 0 ] && [ -n "$summary" ]; then
        ntests=$(echo "$summary" | sed -n 's/.* \([0-9]*\) passed.*/\1/p')
        if [ "${ntests:-0}" -gt 0 ]; then pass "libvm.$crate" "$summary"; else fail "libvm.$crate" "ran no test: $summary"; fi
    else
        fail "libvm.$crate" "exit $rc: ${summary:-no test result line}"
    fi
    expect_eq "libvm.$crate.leaves_zero_vfs" "$(numvfs)" 0
    if grep -q 'SKIPPED' /tmp/libvm.out; then fail "libvm.$crate.not_skipped" "a test skipped although SRIOV_TESTBED_PF=$PF"; fi
done
