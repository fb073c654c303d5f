# shellcheck shell=sh
# Two PFs (a dual-port card; this boot has a second igb): one config sets up
# both. Their links come up together, their VF counts are written at once (a
# thread per PF) and their VFs probed several at a time, so the slower PF, not
# the sum of both, sets the pace.
# Re-running changes nothing; reset takes one PF back to 0 alone, or several
# at once.
PF2=""
for d in /sys/class/net/*; do
    n=$(basename "$d")
    [ "$n" != "$PF" ] && [ -e "$d/device/sriov_totalvfs" ] && { PF2=$n; break; }
done
if [ -z "$PF2" ]; then
    fail multipf.second_pf "no second PF in this boot: $(ls /sys/class/net | tr '\n' ' ')"
    return 0
fi
PF2DEV=/sys/class/net/$PF2/device
PF2PCI=$(basename "$(readlink "$PF2DEV")")
pass multipf.second_pf "$PF2 at $PF2PCI beside $PF at $(basename "$(readlink "$PFDEV")")"
numvfs2() { cat "$PF2DEV/sriov_numvfs"; }
vf2_netdev() { ls "$PF2DEV/virtfn$1/net" 2>/dev/null | head -n1; }

# Both PFs down: setup brings them up (`up = true`) and waits for both links.
ip link set "$PF" down
ip link set "$PF2" down
CFG=/tmp/two.toml
cat >"$CFG" <<TOML
[[pf]]
name = "$PF"
num_vfs = 7
up = true

[[pf.vf]]
index = 0
vlan = 10
name = "p0vf0"
up = true

[[pf.vf]]
index = 6
driver = "vfio-pci"

[[pf]]
pci = "$PF2PCI"
num_vfs = 7
up = true

[[pf.vf]]
index = 0
vlan = 20
name = "p1vf0"
up = true
addresses = ["10.20.0.1/24"]

[[pf.vf]]
index = 3
vlan = 23
TOML
cli setup --config "$CFG" --json --timings
expect_rc multipf.exit 0
if json_true "$CLI_OUT" '[.changes[] | select(.status != "applied")] | length == 0'; then
    pass multipf.all_applied "$(jq '.changes | length' "$CLI_OUT") changes"
else
    fail multipf.all_applied "$(jq -c '[.changes[] | select(.status != "applied") | {pf, vf, attr, status, detail}]' "$CLI_OUT" 2>&1 | cut -c1-250)"
fi
expect_eq multipf.numvfs "$(numvfs) $(numvfs2)" "7 7" "(sriov_numvfs of $PF and $PF2)"
expect_eq multipf.pf_carriers "$(cat "/sys/class/net/$PF/carrier" "/sys/class/net/$PF2/carrier" 2>&1 | tr '\n' ' ')" "1 1 " "(both PFs up with their links)"
expect_eq multipf.vf_names "$(vf_netdev 0) $(vf2_netdev 0)" "p0vf0 p1vf0" "(sysfs: VF 0 of each PF)"
vlan_of() { ip -j -d link show dev "$1" | jq -r ".[0].vfinfo_list[] | select(.vf == $2) | .vlan_list[0].vlan // 0"; }
expect_eq multipf.vlans "$(vlan_of "$PF" 0) $(vlan_of "$PF2" 0) $(vlan_of "$PF2" 3)" "10 20 23" "(ip: VLANs set on the right PF)"
expect_eq multipf.vfio "$(vf_driver 6) $(basename "$(readlink "$PF2DEV/virtfn6/driver" 2>/dev/null)" 2>/dev/null)" "vfio-pci igbvf" "(VF 6 of $PF to vfio-pci, of $PF2 left to igbvf)"
expect_eq multipf.address "$(ip -j addr show dev p1vf0 | jq -r '[.[0].addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"] | join(",")')" "10.20.0.1/24"

# --timings: a line per PF for each of the two phases, marked as done at the
# same time, and after each phase's operations one wait for both links. The
# count phase without that wait took less than its two writes added up,
# which only happens when they overlapped (one after the other, the writes
# alone take their sum).
ms() { grep -E "^ +[0-9]+\.[0-9] ms  $1\$" "$CLI_ERR" | head -n1 | sed 's/^ *\([0-9]*\)\.[0-9] ms.*/\1/'; }
together=' \(at the same time as the other PF\)'
w1=$(ms "  $PF: sriov_numvfs 7$together") w2=$(ms "  $PF2PCI: sriov_numvfs 7$together")
u1=$(ms "  $PF: up$together") u2=$(ms "  $PF2PCI: up$together")
phase=$(ms 'num_vfs')
# the first link wait after the num_vfs phase line
lw=$(sed -n '/^ *[0-9.]* ms  num_vfs$/,$p' "$CLI_ERR" | grep -E "^ +[0-9]+\.[0-9] ms    wait for the link of $PF, $PF2PCI\$" | head -n1 | sed 's/^ *\([0-9]*\)\.[0-9] ms.*/\1/')
note "count writes: $PF ${w1:-?} ms, $PF2PCI ${w2:-?} ms, then ${lw:-?} ms for the links; num_vfs phase ${phase:-?} ms; ups ${u1:-?} / ${u2:-?} ms"
if [ -n "$w1" ] && [ -n "$w2" ] && [ -n "$u1" ] && [ -n "$u2" ] && [ -n "$phase" ] && [ -n "$lw" ]; then
    pass multipf.timings_together "each PF's up and count write marked as done together, one wait for both links"
    if [ $((phase - lw)) -lt $((w1 + w2)) ]; then
        pass multipf.counts_overlapped "num_vfs phase $phase ms - $lw ms link wait < $w1 + $w2 ms of its two writes"
    else
        fail multipf.counts_overlapped "num_vfs phase $phase ms - $lw ms link wait >= $w1 + $w2 ms: the writes ran one after the other"
    fi
else
    fail multipf.timings_together "missing timing lines: $(grep -E 'sriov_numvfs|: up|num_vfs|wait for the link' "$CLI_ERR" | tr '\n' '|' | cut -c1-250)"
fi
# The 13 VFs for igbvf (VF 6 of the first PF goes to vfio-pci) are probed
# several at a time: the driver phase is shorter than its probes added up.
probes=$(grep -E '^ +[0-9]+\.[0-9] ms    [a-z0-9]+ vf [0-6]: probe$' "$CLI_ERR" | sed 's/^ *\([0-9]*\)\.[0-9] ms.*/\1/')
nprobes=$(echo "$probes" | grep -c .)
sum=$(echo "$probes" | awk '{ s += $1 } END { print s + 0 }')
dphase=$(ms 'driver')
note "probes: $nprobes, $sum ms added up; driver phase ${dphase:-?} ms"
if [ "$nprobes" = 13 ] && [ -n "$dphase" ] && [ "$dphase" -lt "$sum" ]; then
    pass multipf.probes_overlapped "driver phase $dphase ms < $sum ms of its 13 probes"
else
    fail multipf.probes_overlapped "$nprobes probes ($sum ms added up), driver phase ${dphase:-?} ms"
fi

# status sees both PFs with their VFs; the boot unit waits for both PFs'
# interfaces (the second one found from its PCI address).
cli status --json
expect_eq multipf.status "$(jq -c '[.pfs[] | {a: .address, n: .num_vfs, v: (.vfs | length)}]' "$CLI_OUT" 2>&1)" \
    "[{\"a\":\"$(basename "$(readlink "$PFDEV")")\",\"n\":7,\"v\":7},{\"a\":\"$PF2PCI\",\"n\":7,\"v\":7}]" "(status --json)"
cli generate systemd-unit --config "$CFG"
units=$(grep -E '^(After|Wants)=sys-subsystem-net-devices-' "$CLI_OUT" | tr '\n' '|')
dev="sys-subsystem-net-devices-$PF.device sys-subsystem-net-devices-$PF2.device"
expect_eq multipf.unit_waits_for_both "$units" "After=$dev|Wants=$dev|" "(generate systemd-unit)"

snapshot /tmp/mp.a
cli setup --config "$CFG" --json
expect_rc multipf.again_exit 0
expect_eq multipf.again_nothing "$(jq '[.changes[] | select(.status == "applied")] | length' "$CLI_OUT")" 0 "(second run: nothing applied)"
snapshot /tmp/mp.b
if cmp -s /tmp/mp.a /tmp/mp.b; then pass multipf.again_changed_nothing "host as before"; else
    fail multipf.again_changed_nothing "$(diff /tmp/mp.a /tmp/mp.b | grep '^[-+][^-+]' | tr '\n' ' ' | cut -c1-250)"; fi

cli reset "$PF2PCI" --allow-recreate
expect_rc multipf.reset_second 0
expect_eq multipf.reset_second_only "$(numvfs) $(numvfs2)" "7 0" "(reset of $PF2PCI leaves $PF alone)"
# Both at once (a thread per PF), after setting them up again.
cli setup --config "$CFG"
expect_eq multipf.setup_again "$CLI_RC $(numvfs) $(numvfs2)" "0 7 7"
cli reset "$PF" "$PF2PCI" --allow-recreate
expect_rc multipf.reset_both_exit 0
expect_eq multipf.reset_both_said "$(cat "$CLI_OUT")" "PF $PF ($(basename "$(readlink "$PFDEV")")): num_vfs 7 -> 0
PF $PF2 ($PF2PCI): num_vfs 7 -> 0" "(one line per PF, in the order given)"
expect_eq multipf.reset_both "$(numvfs) $(numvfs2)" "0 0"
ip link set "$PF2" down
