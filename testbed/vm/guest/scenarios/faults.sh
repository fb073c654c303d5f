# shellcheck shell=sh
# A kill at any point: SRIOV_CLI_FAULT=kill-after:POINT makes setup SIGKILL
# itself right after POINT (each phase, and right after the count write
# before its waits). After each kill a plain re-run must converge to the
# same host as an uninterrupted setup, snapshot to snapshot (sysfs and
# iproute2). Then enable-iommu killed at random moments while it writes a
# large GRUB file: the file is always the old or the new one, never a mix.
CFG=$(fixed_macs_config)

reset_host
cli setup --config "$CFG"
expect_rc faults.reference_setup 0
require_vfs faults.precondition 7 || return 0
snapshot_fresh /tmp/faults.ref

for point in pf_link num_vfs-written num_vfs vf_attrs driver link address route; do
    reset_host
    SRIOV_CLI_FAULT=kill-after:$point timeout 120 /tb/bin/sriov-cli setup --config "$CFG" >/tmp/faults.out 2>/tmp/faults.err
    rc=$?
    sed 's/^/  ! /' /tmp/faults.err | tail -n 5
    # 137: killed by SIGKILL (128 + 9); the hook says where.
    if [ "$rc" = 137 ] && grep -q "killing sriov-cli (pid [0-9]*) after $point\$" /tmp/faults.err; then
        pass "faults.killed_after_$point" "exit 137"
    else
        fail "faults.killed_after_$point" "exit $rc; stderr: $(tr '\n' ' ' </tmp/faults.err | cut -c1-200)"
    fi
    cli setup --config "$CFG"
    expect_rc_errors "faults.rerun_after_$point" 0
    snapshot_fresh /tmp/faults.now
    if cmp -s /tmp/faults.ref /tmp/faults.now; then
        pass "faults.converged_after_$point" "same sysfs + ip view as an uninterrupted setup"
    else
        diff /tmp/faults.ref /tmp/faults.now | sed 's/^/  | /'
        fail "faults.converged_after_$point" "$(diff /tmp/faults.ref /tmp/faults.now | grep '^[-+][^-+]' | tr '\n' ' ')"
    fi
    # Nothing of the killed run is left behind: autoprobe is back on.
    expect_eq "faults.autoprobe_after_$point" "$(cat "$PFDEV/sriov_drivers_autoprobe")" 1
done

# enable-iommu killed while it writes: a 4 MB GRUB file makes the write long
# enough for a kill to land in it.
mkdir -p /etc/default
{
    printf 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'
    i=0
    while [ "$i" -lt 4000 ]; do
        printf '# %01000d\n' "$i"
        i=$((i + 1))
    done
} >/tmp/grub.old
cp /tmp/grub.old /etc/default/grub
t0=$(cut -d' ' -f1 /proc/uptime | tr -d .)
cli enable-iommu
t1=$(cut -d' ' -f1 /proc/uptime | tr -d .)
expect_rc faults.grub_reference 0
# The kills are spread over the whole run (start-up, read, write, rename),
# in steps of a tenth of its time up to 2.4 times it (the reference run may
# have been faster), in microseconds (uptime: 1/100 s).
dur=$(( (t1 - t0) * 10000 ))
[ "$dur" -gt 0 ] || dur=100000
note "enable-iommu on the 4 MB file took $((dur / 1000)) ms"
cp /etc/default/grub /tmp/grub.new
if cmp -s /tmp/grub.old /tmp/grub.new; then fail faults.grub_reference_changed "enable-iommu did not change the file"; fi
old=0 new=0 mixed=0
n=0
while [ "$n" -lt 25 ]; do
    cp /tmp/grub.old /etc/default/grub
    /tb/bin/sriov-cli enable-iommu >/dev/null 2>&1 &
    p=$!
    usleep $(( dur * n / 10 ))
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    if cmp -s /etc/default/grub /tmp/grub.old; then old=$((old + 1))
    elif cmp -s /etc/default/grub /tmp/grub.new; then new=$((new + 1))
    else mixed=$((mixed + 1)); fi
    n=$((n + 1))
done
note "25 kills: $old left the old file, $new the new one, $mixed a mix; temp files left: $(ls -a /etc/default | grep -vc -e '^grub$' -e '^\.\.\?$')"
expect_eq faults.grub_never_mixed "$mixed" 0 "($old old, $new new)"
rm -rf /etc/default
reset_host
