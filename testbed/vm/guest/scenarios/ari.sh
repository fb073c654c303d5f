# shellcheck shell=sh
# ARI off above the igb (issue 15, the "no ARI" cause) on a real kernel. The
# igb's VFs start at routing ID offset 128 (function 128: device 16 on the
# PF's bus), which a downstream port forwards only with ARI Forwarding on.
# Booted with pci=noari the kernel leaves the root port's ARI Forwarding Enable
# off; without it, the kernel turns it on. Which of the two this boot is comes
# from /proc/cmdline, and the port's own Device Control 2 register (read from
# its config space here, an independent reader) must agree; then sriov-cli's
# `check` must name the port and the first unreachable VF with the fix, or
# find nothing. (QEMU's root port still forwards to device 16 without ARI, so
# the VFs appear either way; PCIe hardware answers Unsupported Request.)
if tr ' ' '\n' </proc/cmdline | grep -qx 'pci=noari'; then NOARI=1; else NOARI=0; fi
PFPCI=$(basename "$(readlink "$PFDEV")")
PORT=$(basename "$(dirname "$(readlink -f "$PFDEV")")")
note "igb PF $PF ($PFPCI) below port $PORT; pci=noari on the command line: $NOARI"
# cfg_byte DEV OFFSET: one byte of DEV's config space, decimal.
cfg_byte() { od -An -tu1 -j "$2" -N1 "/sys/bus/pci/devices/$1/config" 2>/dev/null | tr -d ' \n'; }
# The PCI Express capability (ID 0x10) in the port's capability list, from 0x34.
cap=$(cfg_byte "$PORT" 52) n=0
while [ -n "$cap" ] && [ "$cap" -ne 0 ] && [ "$n" -lt 48 ]; do
    [ "$(cfg_byte "$PORT" "$cap")" = 16 ] && break
    cap=$(cfg_byte "$PORT" $((cap + 1))) n=$((n + 1))
done
if [ -z "$cap" ] || [ "$cap" -eq 0 ]; then
    fail ari.port_pcie_cap "no PCI Express capability in $PORT's config space"
    return 0
fi
# Device Control 2 is at +0x28; ARI Forwarding Enable is its bit 5.
dc2=$(cfg_byte "$PORT" $((cap + 40)))
ari=$(((dc2 >> 5) & 1))
offset=$(cat "$PFDEV/sriov_offset" 2>/dev/null)
expect_eq ari.vf0_device "$offset $((offset / 8))" "128 16" "(sysfs sriov_offset of $PFPCI: VF 0 is function 128, device 16)"
if [ "$NOARI" = 1 ]; then
    expect_eq ari.port_forwarding "$ari" 0 "(config space of $PORT: Device Control 2 = $dc2, ARI Forwarding Enable bit 5)"
else
    expect_eq ari.port_forwarding "$ari" 1 "(config space of $PORT: Device Control 2 = $dc2, ARI Forwarding Enable bit 5)"
fi
cli check --json
f=$(jq -c --arg a "$PFPCI" '[.sriov[] | select(.address == $a) | .findings[] | {kind, bridge, first_vf}]' "$CLI_OUT" 2>&1)
if [ "$NOARI" = 1 ]; then
    expect_rc ari.check_exit 1
    expect_eq ari.check_finding "$f" "[{\"kind\":\"no_ari_forwarding\",\"bridge\":\"$PORT\",\"first_vf\":0}]" "(check --json: the igb's findings)"
    expect_match ari.check_fix "$(jq -r --arg a "$PFPCI" '.sriov[] | select(.address == $a) | .findings[] | .fix' "$CLI_OUT" 2>&1)" "pci=noari"
    cli check
    expect_match ari.check_text "$(grep -E -A4 "^ +NOT READY +$PFPCI " "$CLI_OUT" | tr '\n' ' ')" "NOT READY +$PFPCI .*ARI Forwarding is off" "(check: the igb's line and the finding below it)"
else
    expect_rc ari.check_exit 0
    expect_eq ari.check_finding "$f" "[]" "(check --json: no finding for the igb)"
fi
