# shellcheck shell=sh
# Unassigned VF BARs on a real kernel (issue 15, item 4). This boot gets a QEMU
# nvme PF with 127 VFs (2 MiB of VF BAR 0) behind its own root port, which the
# firmware's window does not fit (testbed/vm/run). Booted with pci=realloc=off
# the kernel keeps that window and leaves the VF BAR unassigned; booted
# without it (Debian's CONFIG_PCI_REALLOC_ENABLE_AUTO) or with pci=realloc it
# re-sizes the window. Which of the two this boot is comes from
# /proc/cmdline; dmesg (an independent reader) must agree with it, and so must
# sriov-cli's `check`, and a `setup` of 2 VFs on the nvme PF and 2 on the igb:
#   realloc=off: check names the nvme PF (VF BAR finding, fix pci=realloc),
#     setup exits 1 with the ENOMEM diagnosis naming the PF, the nvme PF keeps
#     0 VFs, the igb gets its 2 (setup stops only the PF that failed);
#   otherwise: check says the nvme PF is ready, setup creates both PFs' VFs.
nvme_pf_or_return bars || return 0
IGBPCI=$(basename "$(readlink "$PFDEV")")
if tr ' ' '\n' </proc/cmdline | grep -qx 'pci=realloc=off'; then OFF=1; else OFF=0; fi
note "nvme PF $NPCI, igb PF $PF ($IGBPCI); pci=realloc=off on the command line: $OFF"
expect_eq bars.totalvfs "$(cat "$NDEV/sriov_totalvfs") $(cat "$NDEV/sriov_numvfs")" "127 0" "(sysfs: the nvme PF's sriov_totalvfs, sriov_numvfs)"
# The kernel's own account of the VF BAR (dmesg), and the PF's resource file
# (line 8 is VF BAR 0: all zeros when unassigned). The kernel's first pass
# fails to place it either way ("can't assign; no space", "failed to
# assign"); with realloc it then re-sizes the port's window and its last word
# on VF BAR 0 is "assigned".
noroom=$(dmesg | grep -F "$NPCI" | grep -E "can't assign|no space|failed to assign" | tr '\n' '|')
last=$(dmesg | grep -F "pci $NPCI: " | grep -E 'VF BAR 0 |BAR 7' | tail -n1)
res8=$(sed -n 8p "$NDEV/resource")
note "dmesg on $NPCI's VF BAR 0:"
dmesg | grep -F "pci $NPCI: " | grep -E 'VF BAR 0 |BAR 7' | indent
note "resource line 8: $res8"
if [ "$OFF" = 1 ]; then
    expect_match bars.dmesg_no_space "$noroom" "VF BAR 0|BAR 7" "(dmesg: the kernel could not place VF BAR 0 of $NPCI)"
    expect_match bars.dmesg_not_assigned "$last" "can't assign|no space|failed to assign" "(dmesg: its last word on VF BAR 0)"
    expect_eq bars.resource_unassigned "$res8" "0x0000000000000000 0x0000000000000000 0x0000000000000000" "(sysfs resource, line 8)"
else
    expect_match bars.dmesg_assigned "$last" "(VF BAR 0|BAR 7).*assigned" "(dmesg: its last word on VF BAR 0)"
    if printf '%s' "$last" | grep -qE "can't assign|failed to assign"; then fail bars.dmesg_assigned_last "$last"; else
        pass bars.dmesg_assigned_last "not a failure: $last"; fi
    expect_match bars.resource_assigned "$res8" "^0x0*[1-9a-f][0-9a-f]* " "(sysfs resource, line 8: VF BAR 0 has an address)"
fi

# check --json: one readiness entry per SR-IOV device.
cli check --json
if [ "$OFF" = 1 ]; then
    expect_rc bars.check_exit 1
    expect_eq bars.check_finding "$(jq -c --arg a "$NPCI" '[.sriov[] | select(.address == $a) | .findings[] | .kind]' "$CLI_OUT" 2>&1)" \
        '["vf_bars_unassigned"]' "(check --json: the nvme PF's findings)"
    expect_match bars.check_fix "$(jq -r --arg a "$NPCI" '.sriov[] | select(.address == $a) | .findings[] | .fix' "$CLI_OUT" 2>&1)" "pci=realloc"
    expect_eq bars.check_not_ready "$(jq -c '.ready' "$CLI_OUT" 2>&1)" false "(check --json verdict)"
else
    expect_rc bars.check_exit 0
    expect_eq bars.check_ready "$(jq -c --arg a "$NPCI" '[.sriov[] | select(.address == $a) | .findings | length]' "$CLI_OUT" 2>&1)" "[0]" "(check --json: no finding for the nvme PF)"
    expect_eq bars.check_verdict "$(jq -c '.ready' "$CLI_OUT" 2>&1)" true "(check --json verdict)"
fi
expect_eq bars.check_igb_ready "$(jq -c --arg a "$IGBPCI" '[.sriov[] | select(.address == $a) | .findings | length]' "$CLI_OUT" 2>&1)" "[0]" "(check --json: the igb)"
cli check
# The SR-IOV section's line of the nvme PF: "  ready     ADDR (nvme): ..." or
# "  NOT READY ADDR (nvme): ...".
line=$(grep -E "^ +(ready|NOT READY) +$NPCI " "$CLI_OUT" | head -n1)
if [ "$OFF" = 1 ]; then
    expect_match bars.check_text "$line" "^ +NOT READY +$NPCI \\(nvme\\)" "(check: the nvme PF's line)"
else
    expect_match bars.check_text "$line" "^ +ready +$NPCI \\(nvme\\)" "(check: the nvme PF's line)"
fi

# One config for both PFs.
CFG=/tmp/bars.toml
cat >"$CFG" <<TOML
[[pf]]
name = "$PF"
num_vfs = 2
up = true

[[pf]]
pci = "$NPCI"
num_vfs = 2
TOML
cli setup --config "$CFG" --json
if [ "$OFF" = 1 ]; then
    expect_rc bars.setup_exit 1
    expect_eq bars.setup_nvme_unchanged "$(cat "$NDEV/sriov_numvfs") [$(ls -d "$NDEV"/virtfn* 2>/dev/null | tr '\n' ' ')]" "0 []" "(sysfs: the nvme PF)"
    expect_eq bars.setup_igb_configured "$(numvfs) $(vf_driver 0) $(vf_driver 1)" "2 igbvf igbvf" "(sysfs: the igb in the same config)"
    failed=$(jq -c --arg a "$NPCI" '[.changes[] | select(.status != "applied") | {pf_address, attr, status}]' "$CLI_OUT" 2>&1)
    expect_eq bars.setup_only_nvme_failed "$failed" "[{\"pf_address\":\"$NPCI\",\"attr\":\"num_vfs\",\"status\":\"failed\"}]" "(setup --json: the changes not applied)"
    why=$(jq -r --arg a "$NPCI" '.changes[] | select(.pf_address == $a and .attr == "num_vfs") | .detail' "$CLI_OUT" 2>&1)
    expect_match bars.setup_enomem "$why" "ENOMEM" "(setup --json detail)"
    expect_match bars.setup_diagnosis "$why" "$NPCI.*VF BAR|VF BAR.*$NPCI" "(names the PF and its VF BAR)"
    expect_match bars.setup_fix "$why" "pci=realloc"
    expect_match bars.setup_stderr "$(grep -E '^error:' "$CLI_ERR" | tr '\n' ' ')" "$NPCI" "(stderr error line names the PF)"
    expect_match bars.dmesg_enomem "$(dmesg | grep -F "$NPCI" | grep -F 'not enough MMIO resources for SR-IOV' | tail -n1)" "not enough MMIO" "(dmesg after the write)"
else
    expect_rc_errors bars.setup_exit 0
    expect_eq bars.setup_numvfs "$(cat "$NDEV/sriov_numvfs") $(numvfs) [$(ls -d "$NDEV"/virtfn* 2>/dev/null | wc -l)]" "2 2 [2]" "(sysfs: the nvme PF, the igb, the nvme PF's virtfn links)"
    expect_eq bars.dmesg_no_enomem "$(dmesg | grep -F "$NPCI" | grep -cF 'not enough MMIO resources')" 0 "(dmesg)"
    cli reset "$NPCI" --allow-recreate
    expect_eq bars.reset "$CLI_RC $(cat "$NDEV/sriov_numvfs")" "0 0" "(exit, sysfs)"
fi
