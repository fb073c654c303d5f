# shellcheck shell=sh
# Devices changing under setup: SRIOV_CLI_FAULT=stop-after:POINT stops setup
# (SIGSTOP) at POINT, another actor changes the host, SIGCONT lets setup go
# on. Each time: no panic, exit 0 (setup coped) or 1 with an error naming the
# device, and (after the actor's own repair, where the actor broke the
# hardware's state) a plain re-run converges to an uninterrupted setup's
# host. Read back with sysfs and iproute2.
CFG=$(fixed_macs_config)
PFADDR=$(basename "$(readlink "$PFDEV")")

reset_host
cli setup --config "$CFG"
expect_rc changes.reference_setup 0
require_vfs changes.precondition 7 || return 0
snapshot_fresh /tmp/changes.ref

stopped() { [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = T ]; }

# disturb NAME POINT ACTION PATTERN REPAIR: ACTION and REPAIR are shell
# functions; PATTERN (grep -E) must be in stderr's error lines on exit 1.
disturb() {
    name=$1 point=$2 action=$3 pattern=$4 repair=$5
    reset_host
    SRIOV_CLI_FAULT=stop-after:$point timeout 180 /tb/bin/sriov-cli setup --config "$CFG" \
        >/tmp/changes.out 2>/tmp/changes.err &
    waiter=$!
    pid=""
    got_pid() { pid=$(sed -n 's/.*stopping sriov-cli (pid \([0-9]*\)) after.*/\1/p' /tmp/changes.err); [ -n "$pid" ] && stopped "$pid"; }
    if ! wait_until 60 got_pid; then
        fail "changes.${name}_stopped" "setup never stopped at $point: $(tr '\n' ' ' </tmp/changes.err | cut -c1-200)"
        wait "$waiter"
        return
    fi
    "$action"
    kill -CONT "$pid"
    wait "$waiter"
    rc=$?
    sed 's/^/  ! /' /tmp/changes.err | head -n 20
    if grep -q panicked /tmp/changes.err; then fail "changes.${name}_no_panic" "$(grep -m1 panicked /tmp/changes.err)"; else pass "changes.${name}_no_panic" ""; fi
    case $rc in
        0) pass "changes.${name}_exit" "0: setup coped with the change" ;;
        1) if grep '^error:' /tmp/changes.err | grep -qE -- "$pattern"; then
               pass "changes.${name}_exit" "1, naming /$pattern/: $(grep -m1 '^error:' /tmp/changes.err | cut -c1-160)"
           else
               fail "changes.${name}_exit" "1, but no error names /$pattern/: $(grep '^error:' /tmp/changes.err | tr '\n' ' ' | cut -c1-200)"
           fi ;;
        *) fail "changes.${name}_exit" "exit $rc (want 0 or 1): $(tr '\n' ' ' </tmp/changes.err | cut -c1-200)" ;;
    esac
    [ -n "$repair" ] && "$repair"
    cli setup --config "$CFG"
    expect_rc_errors "changes.${name}_rerun" 0
    snapshot_fresh /tmp/changes.now
    if cmp -s /tmp/changes.ref /tmp/changes.now; then pass "changes.${name}_converged" ""; else
        diff /tmp/changes.ref /tmp/changes.now | sed 's/^/  | /'
        fail "changes.${name}_converged" "$(diff /tmp/changes.ref /tmp/changes.now | grep '^[-+][^-+]' | tr '\n' ' ')"
    fi
}

# Someone renames a VF netdev after setup planned its renames.
rename_vf2() {
    n=$(vf_netdev 2)
    note "renaming $n to other2"
    ip link set dev "$n" name other2
    RENAMED=$n
}
disturb renamed link-planned rename_vf2 'eth[0-9]+|other2|VF 2' ""

# Someone rebinds a VF setup just gave its netdev driver to vfio-pci.
rebind_vf3() {
    a=$(vf_addr 3)
    note "rebinding $a ($(vf_driver 3)) to vfio-pci"
    echo "$a" >"/sys/bus/pci/devices/$a/driver/unbind"
    echo vfio-pci >"/sys/bus/pci/devices/$a/driver_override"
    echo "$a" >/sys/bus/pci/drivers/vfio-pci/bind
}
unrebind_vf3() {
    # The other actor's own change, undone by that actor: setup does not take
    # a VF from another driver unless the config says which.
    a=$(vf_addr 3)
    echo "$a" >/sys/bus/pci/drivers/vfio-pci/unbind
    echo >"/sys/bus/pci/devices/$a/driver_override"
    echo "$a" >/sys/bus/pci/drivers_probe
    wait_until 10 test -n "$(vf_netdev 3)"
}
disturb rebound link-planned rebind_vf3 "$(vf_addr 3 2>/dev/null)|VF 3|eth[0-9]+" unrebind_vf3

# The PF's driver is unbound (its VFs go with it) between two phases.
unbind_pf() {
    note "unbinding $PFADDR from igb"
    echo "$PFADDR" >/sys/bus/pci/drivers/igb/unbind
}
rebind_pf() {
    echo "$PFADDR" >/sys/bus/pci/drivers/igb/bind
    wait_until 20 test -e "$PFDEV/sriov_numvfs"
    wait_until 20 test -e "/sys/class/net/$PF"
    note "PF back: $(ls "$PFDEV/net" 2>&1)"
}
disturb pf_unbound vf_attrs unbind_pf "$PFADDR|$PF" rebind_pf
reset_host
