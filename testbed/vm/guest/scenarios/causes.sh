# shellcheck shell=sh
# Why VFs cannot be created (issue 15), on a real kernel, for the causes the
# igb PF can be put in: no driver bound; bound to a driver without
# sriov_configure (pci-stub); bound to vfio-pci loaded without enable_sriov=1
# (the initramfs loads it with its defaults). For each, first the kernel's own
# answer to a raw `echo 2 > sriov_numvfs` (the shell reads the errno: the
# independent reader), then `sriov-cli check --json` (the finding, where
# sysfs shows the cause: pci-stub's lack of sriov_configure is visible only
# to a write) and a `setup` of 2 VFs by `pci` selector, which names the PF,
# the driver and the fix and leaves sriov_numvfs at 0: without a driver the
# plan is refused (exit 2, at the config's file:line:col, nothing tried);
# with a driver the count write is tried and fails (exit 1, the change
# `failed` with the write's diagnosis). The PF goes back to igb at the end.
PFPCI=$(basename "$(readlink "$PFDEV")")
PCIDEV=/sys/bus/pci/devices/$PFPCI
drv() { [ -e "$PCIDEV/driver" ] && basename "$(readlink "$PCIDEV/driver")"; }
pf_netdev() { ls "$PCIDEV/net" 2>/dev/null | head -n1; }
note "igb PF $PF ($PFPCI), driver $(drv)"

# pci-stub, loaded on demand (/tb/modules/order.pci-stub), unless built in.
mf=""
if [ ! -d /sys/bus/pci/drivers/pci-stub ]; then
    if [ -f /tb/modules/order.pci-stub ]; then
        while read -r m _; do
            case $m in '#'*|'') continue ;; MISSING) mf="$mf missing"; continue ;; esac
            grep -q "^$(echo "${m%.ko}" | tr - _) " /proc/modules || o=$(insmod "/tb/modules/$m" 2>&1) || mf="$mf $m($o)"
        done </tb/modules/order.pci-stub
    else
        mf="no /tb/modules/order.pci-stub in the image"
    fi
fi
if [ -n "$mf" ] || [ ! -d /sys/bus/pci/drivers/pci-stub ]; then
    fail causes.pci_stub "pci-stub not available:$mf"
    return 0
fi
expect_eq causes.vfio_sriov_param "$(cat /sys/module/vfio_pci/parameters/enable_sriov 2>&1)" N "(vfio-pci loaded without enable_sriov=1)"

CFG=/tmp/causes.toml
cat >"$CFG" <<TOML
[[pf]]
pci = "$PFPCI"
num_vfs = 2
TOML

# rebind DRIVER: the PF to DRIVER through driver_override; "" leaves it
# without a driver, "-" clears the override and lets its own driver probe it.
rebind() {
    [ -e "$PCIDEV/driver" ] && echo "$PFPCI" >"$PCIDEV/driver/unbind"
    [ -z "$1" ] && { [ -z "$(drv)" ]; return; }
    if [ "$1" = - ]; then echo >"$PCIDEV/driver_override"; else echo "$1" >"$PCIDEV/driver_override"; fi
    echo "$PFPCI" >/sys/bus/pci/drivers_probe
    [ "$1" = - ] || [ "$(drv)" = "$1" ]
}
# raw_write NAME: the kernel's answer to `echo 2 > sriov_numvfs` is ENOENT.
raw_write() {
    o=$( (echo 2 >"$PCIDEV/sriov_numvfs") 2>&1); r=$?
    if [ "$r" -ne 0 ] && echo "$o" | grep -q 'No such file or directory'; then
        pass "$1" "the kernel answers ENOENT ($o)"
    else
        fail "$1" "echo 2 > sriov_numvfs: exit $r, '$o' (want ENOENT)"
    fi
}
# finding NAME KIND: check --json has exactly that finding for the PF, not
# ready, exit 1, and a fix.
finding() {
    cli check --json
    f=$(jq -c --arg a "$PFPCI" '[.sriov[] | select(.address == $a) | .findings[] | .kind]' "$CLI_OUT" 2>&1)
    fix=$(jq -r --arg a "$PFPCI" '.sriov[] | select(.address == $a) | .findings[0].fix // ""' "$CLI_OUT" 2>/dev/null)
    expect_eq "$1" "rc=$CLI_RC $f fix:$([ -n "$fix" ] && echo yes)" "rc=1 [\"$2\"] fix:yes" "(check --json for $PFPCI; fix: $fix)"
}
# setup_refused NAME RC REGEX: setup of 2 VFs by pci selector exits RC, a
# line of its output (stdout's `failed` change, stderr's `error:`) matches
# REGEX, and sriov_numvfs stays 0.
setup_refused() {
    cli setup --config "$CFG"
    e=$(cat "$CLI_OUT" "$CLI_ERR" | grep -E '^(failed|error)' | tr '\n' ' ')
    if [ "$CLI_RC" = "$2" ] && echo "$e" | grep -qE -- "$3" && [ "$(cat "$PCIDEV/sriov_numvfs")" = 0 ]; then
        pass "$1" "exit $2, sriov_numvfs 0 (sysfs): $e"
    else
        fail "$1" "exit $CLI_RC, sriov_numvfs $(cat "$PCIDEV/sriov_numvfs"), output: '$e' (want exit $2, 0 VFs, /$3/)"
    fi
}

# 1. No driver.
if rebind ""; then
    pass causes.unbound "$PFPCI has no driver (sysfs: no driver link)"
    raw_write causes.no_driver_raw_enoent
    finding causes.no_driver_check no_driver
    setup_refused causes.no_driver_setup 2 "^error: $CFG:2:7: PF $PFPCI .*no driver is bound.*drivers_probe"
else
    fail causes.unbound "$PFPCI still bound to '$(drv)' after unbind"
fi

# 2. A driver without sriov_configure.
if rebind pci-stub; then
    pass causes.pci_stub "$PFPCI bound to pci-stub (driver_override)"
    raw_write causes.no_sriov_configure_raw_enoent
    dmesg | grep -F "$PFPCI" | grep -i 'sriov' | tail -n 2 | indent 2
    setup_refused causes.no_sriov_configure_setup 1 "^failed .*num_vfs 0 -> 2: cannot change VFs of $PFPCI: its driver pci-stub does not create VFs .*ENOENT.*bind the PF to a driver that supports SR-IOV"
else
    fail causes.pci_stub "$PFPCI: driver '$(drv)' after binding pci-stub"
fi

# 3. vfio-pci without enable_sriov=1.
if rebind vfio-pci; then
    pass causes.vfio_pci "$PFPCI bound to vfio-pci (driver_override)"
    raw_write causes.vfio_no_enable_sriov_raw_enoent
    finding causes.vfio_no_enable_sriov_check vfio_pci_sriov_disabled
    setup_refused causes.vfio_no_enable_sriov_setup 1 "^failed .*num_vfs 0 -> 2: cannot change VFs of $PFPCI: its driver vfio-pci .*ENOENT.*modprobe vfio-pci enable_sriov=1"
else
    fail causes.vfio_pci "$PFPCI: driver '$(drv)' after binding vfio-pci"
fi

# Back to igb.
rebind -
pf_has_netdev() { [ -n "$(pf_netdev)" ]; }
wait_until 20 pf_has_netdev
expect_eq causes.back_to_igb "$(drv) $(pf_netdev)" "igb $PF" "(sysfs: driver link and net/ of $PFPCI)"
