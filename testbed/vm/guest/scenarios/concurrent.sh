# shellcheck shell=sh
# Two setups started at the same moment (a boot unit and an admin): the host
# lock serialises them, so both exit 0 and the host ends as one setup leaves
# it. Before the lock, each renamed what the other was about to rename and
# both exited 1. Read back with sysfs and iproute2.
CFG=$(fixed_macs_config)

reset_host
cli setup --config "$CFG"
expect_rc concurrent.reference_setup 0
require_vfs concurrent.precondition 7 || return 0
snapshot_fresh /tmp/conc.ref
reset_host

( timeout 180 /tb/bin/sriov-cli setup --config "$CFG" >/tmp/conc1.out 2>/tmp/conc1.err; echo $? >/tmp/conc1.rc ) &
p1=$!
( timeout 180 /tb/bin/sriov-cli setup --config "$CFG" >/tmp/conc2.out 2>/tmp/conc2.err; echo $? >/tmp/conc2.rc ) &
p2=$!
wait "$p1" "$p2"
rc1=$(cat /tmp/conc1.rc) rc2=$(cat /tmp/conc2.rc)
for i in 1 2; do
    note "run $i: exit $(cat /tmp/conc$i.rc)"
    sed 's/^/  ! /' /tmp/conc$i.err | head -n 20
done
expect_eq concurrent.both_exit_0 "$rc1 $rc2" "0 0" "(errors: $(grep -h '^error:' /tmp/conc1.err /tmp/conc2.err | tr '\n' ' ' | cut -c1-200))"
# One of them waited for the other's lock, and said so.
waited=$(grep -l 'waiting for another sriov-cli run' /tmp/conc1.err /tmp/conc2.err | wc -l)
expect_eq concurrent.one_waited "$waited" 1 "(runs whose stderr says they waited)"
snapshot_fresh /tmp/conc.both
if cmp -s /tmp/conc.ref /tmp/conc.both; then
    pass concurrent.same_as_one_setup "sysfs + ip view identical to a single setup's"
else
    diff /tmp/conc.ref /tmp/conc.both | sed 's/^/  | /'
    fail concurrent.same_as_one_setup "$(diff /tmp/conc.ref /tmp/conc.both | grep '^[-+][^-+]' | tr '\n' ' ')"
fi
# A writer that cannot get the lock in --wait seconds gives up, changing
# nothing: while a fresh setup holds the lock (it writes its pid into the
# lock file once it has it), a reset with --wait 0 is refused.
reset_host
rm -f /run/sriov-cli.lock
( timeout 180 /tb/bin/sriov-cli setup --config "$CFG" >/tmp/conc4.out 2>/tmp/conc4.err; echo $? >/tmp/conc4.rc ) &
holder=$!
holds() { grep -q '^pid [0-9]*, setup$' /run/sriov-cli.lock; }
if wait_until 20 holds; then
    cli --wait 0 reset "$PF"
    expect_rc_errors concurrent.gives_up_exit 2
    expect_match concurrent.gives_up_said "$(cat "$CLI_ERR")" 'still holds /run/sriov-cli.lock after 0 s: nothing was changed'
    # A read-only command does not wait for it.
    cli status --json
    expect_rc concurrent.status_does_not_wait 0
else
    fail concurrent.holder "the setup never wrote its pid into /run/sriov-cli.lock: $(cat /run/sriov-cli.lock 2>&1)"
fi
wait "$holder"
expect_eq concurrent.holder_exit "$(cat /tmp/conc4.rc)" 0 "(the setup holding the lock; errors: $(grep '^error:' /tmp/conc4.err | tr '\n' ' ' | cut -c1-200))"
# The refused reset changed nothing: the holder's setup is complete.
snapshot_fresh /tmp/conc.after
if cmp -s /tmp/conc.ref /tmp/conc.after; then pass concurrent.refused_reset_changed_nothing ""; else
    fail concurrent.refused_reset_changed_nothing "$(diff /tmp/conc.ref /tmp/conc.after | grep '^[-+][^-+]' | tr '\n' ' ')"; fi
