# shellcheck shell=sh
# A non-zero -> other non-zero VF count change is refused without
# --allow-recreate (naming what would be destroyed) and done with it.
CFG=/tb/guest/configs/guide.toml
cat >/tmp/four.toml <<'TOML'
[[pf]]
name = "eth0"
num_vfs = 4

[[pf.vf]]
index = 1
vlan = 40
name = "eth0pve040"
TOML

cli setup --config "$CFG"
expect_rc recreate.setup 0
require_vfs recreate.precondition 7 || return 0
# VF 5 has no name, address or "up" in the guide: bring its netdev up by hand,
# so that the refusal must list it (as in use) on a line of its own.
n5=$(vf_netdev 5) a5=$(vf_addr 5) a1=$(vf_addr 1) a6=$(vf_addr 6)
if [ -n "$n5" ] && ip link set dev "$n5" up && [ "$(link_info "$n5" '(.flags | index("UP")) != null')" = true ]; then
    pass recreate.vf5_up "$n5 ($a5) up (ip)"; else fail recreate.vf5_up "VF 5 netdev '$n5' not brought up"; fi
snapshot /tmp/rec.a
cli setup --config /tmp/four.toml --dry-run
snapshot /tmp/rec.b
if cmp -s /tmp/rec.a /tmp/rec.b; then pass recreate.dry_run_nothing_changed "rc=$CLI_RC"; else
    fail recreate.dry_run_nothing_changed "$(diff /tmp/rec.a /tmp/rec.b | grep '^[-+][^-+]' | tr '\n' ' ')"; fi

cli setup --config /tmp/four.toml
expect_rc recreate.refused 2
both=$(cat "$CLI_OUT" "$CLI_ERR")
expect_match recreate.hint "$both" 'allow-recreate' "(tells how to proceed)"
expect_match recreate.names_casualties "$both" 'eth0pve050|eth1lxc9999v050|0000:01:11\.4|vfio' "(names what would be destroyed)"
# One in-use VF per line: "VF <i> (<pci>): <what is in use>", nothing else on it.
vf_line() { grep -E "^(error: )? *VF $1 \($2\): " "$CLI_ERR"; }
l5=$(vf_line 5 "$a5")
if [ "$(printf '%s\n' "$l5" | grep -c .)" = 1 ] && [ "$(printf '%s' "$l5" | grep -o 'VF [0-9]' | wc -l)" = 1 ]; then
    expect_match recreate.in_use_vf5_own_line "$l5" "\): netdev $n5 is up\$" "(the VF brought up by hand)"
else
    fail recreate.in_use_vf5_own_line "no single line for VF 5 ($a5, $n5): '$l5'; stderr: $(cli_err_line)"
fi
l1=$(vf_line 1 "$a1")
if [ "$(printf '%s\n' "$l1" | grep -c .)" = 1 ] && [ "$(printf '%s' "$l1" | grep -o 'VF [0-9]' | wc -l)" = 1 ]; then
    expect_match recreate.in_use_vf1_own_line "$l1" "eth0pve050 is up.*10\.0\.50\.100" "(up, with the guide's address)"
else
    fail recreate.in_use_vf1_own_line "no single line for VF 1 ($a1): '$l1'"
fi
expect_match recreate.in_use_vf6_own_line "$(vf_line 6 "$a6")" 'vfio-pci$' "(bound to vfio-pci)"
expect_eq recreate.in_use_count "$(grep -cE '^(error: )? *VF [0-9] \(' "$CLI_ERR")" 7 "(VFs 0-4 named and up, 5 up by hand, 6 on vfio-pci)"
snapshot /tmp/rec.c
if cmp -s /tmp/rec.a /tmp/rec.c; then pass recreate.refused_nothing_changed "numvfs $(numvfs)"; else
    fail recreate.refused_nothing_changed "$(diff /tmp/rec.a /tmp/rec.c | grep '^[-+][^-+]' | tr '\n' ' ')"; fi

cli setup --config /tmp/four.toml --allow-recreate
expect_rc recreate.allowed_exit 0
expect_eq recreate.allowed_numvfs "$(numvfs) $([ -e "$PFDEV/virtfn4" ] && echo virtfn4 || echo no-virtfn4)" "4 no-virtfn4" "(sysfs)"
expect_eq recreate.allowed_vf1 "$(vf_info 1 '.vlan_list[0].vlan // 0') $(vf_netdev 1)" "40 eth0pve040" "(ip + sysfs)"
expect_eq recreate.old_names_gone "$(ip -br link | grep -c 'eth0pve05\|eth1lxc')" 0
expect_eq recreate.old_route_gone "$(ip -j route show default | jq length)" 0
