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
snapshot /tmp/rec.a
cli setup --config /tmp/four.toml --dry-run
snapshot /tmp/rec.b
if cmp -s /tmp/rec.a /tmp/rec.b; then pass recreate.dry_run_nothing_changed "rc=$CLI_RC"; else
    fail recreate.dry_run_nothing_changed "$(diff /tmp/rec.a /tmp/rec.b | grep '^[-+][^-+]' | tr '\n' ' ')"; fi

cli setup --config /tmp/four.toml
if [ "$CLI_RC" != 0 ]; then pass recreate.refused "exit $CLI_RC"; else fail recreate.refused "exit 0: the count change was not refused"; fi
both=$(cat "$CLI_OUT" "$CLI_ERR")
expect_match recreate.hint "$both" 'allow-recreate' "(tells how to proceed)"
expect_match recreate.names_casualties "$both" 'eth0pve050|eth1lxc9999v050|0000:01:11\.4|vfio' "(names what would be destroyed)"
snapshot /tmp/rec.c
if cmp -s /tmp/rec.a /tmp/rec.c; then pass recreate.refused_nothing_changed "numvfs $(numvfs)"; else
    fail recreate.refused_nothing_changed "$(diff /tmp/rec.a /tmp/rec.c | grep '^[-+][^-+]' | tr '\n' ' ')"; fi

cli setup --config /tmp/four.toml --allow-recreate
expect_rc recreate.allowed_exit 0
expect_eq recreate.allowed_numvfs "$(numvfs) $([ -e "$PFDEV/virtfn4" ] && echo virtfn4 || echo no-virtfn4)" "4 no-virtfn4" "(sysfs)"
expect_eq recreate.allowed_vf1 "$(vf_info 1 '.vlan_list[0].vlan // 0') $(vf_netdev 1)" "40 eth0pve040" "(ip + sysfs)"
expect_eq recreate.old_names_gone "$(ip -br link | grep -c 'eth0pve05\|eth1lxc')" 0
expect_eq recreate.old_route_gone "$(ip -j route show default | jq length)" 0
