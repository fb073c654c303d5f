# shellcheck shell=sh
# A second setup run changes nothing and says so.
CFG=/tb/guest/configs/guide.toml

cli setup --config "$CFG"
expect_rc idempotent.first_run 0
require_vfs idempotent.precondition 7 || return 0
snapshot /tmp/idem.a
cli setup --config "$CFG" --json
expect_rc idempotent.second_exit 0
if json_true "$CLI_OUT" '.changes | length == 0'; then
    pass idempotent.json_empty '{"changes": []}'
else
    fail idempotent.json_empty "$(jq -c '[.changes[]? | {vf, attr, from, to, status}]' "$CLI_OUT" 2>&1 | cut -c1-250) $(head -c 100 "$CLI_OUT")"
fi
snapshot /tmp/idem.b
if cmp -s /tmp/idem.a /tmp/idem.b; then pass idempotent.nothing_changed "sysfs + ip view identical"; else
    diff /tmp/idem.a /tmp/idem.b | sed 's/^/  | /'
    fail idempotent.nothing_changed "$(diff /tmp/idem.a /tmp/idem.b | grep '^[-+][^-+]' | tr '\n' ' ')"; fi
cli setup --config "$CFG" --dry-run --json
expect_rc idempotent.dry_run_exit 0
if json_true "$CLI_OUT" '.changes | length == 0'; then pass idempotent.dry_run_empty "no planned change"; else
    fail idempotent.dry_run_empty "$(head -c 200 "$CLI_OUT")"; fi
cli setup --config "$CFG"
expect_rc idempotent.text_exit 0
snapshot /tmp/idem.c
if cmp -s /tmp/idem.a /tmp/idem.c; then pass idempotent.third_run_nothing_changed ""; else
    diff /tmp/idem.a /tmp/idem.c | sed 's/^/  | /'
    fail idempotent.third_run_nothing_changed "$(diff /tmp/idem.a /tmp/idem.c | grep '^[-+][^-+]' | tr '\n' ' ')"; fi
# An address the config does not list (e.g. the old one after an edit): setup
# leaves it and says so.
ip address add 10.2.60.200/24 dev eth0pve060
cli setup --config "$CFG" --dry-run --json
expect_rc idempotent.extra_address_exit 0
if json_true "$CLI_OUT" '[.warnings[] | select(contains("eth0pve060 also has 10.2.60.200/24"))] | length == 1'; then
    pass idempotent.extra_address_warned "$(jq -r '.warnings[0]' "$CLI_OUT" | cut -c1-120)"
else
    fail idempotent.extra_address_warned "$(head -c 300 "$CLI_OUT")"
fi
cli setup --config "$CFG" --prune
expect_rc idempotent.prune_exit 0
expect_eq idempotent.prune_removed "$(ip -4 -br addr show dev eth0pve060 | awk '{ print $3, $4 }' | sed 's/ $//')" "10.2.60.100/24" "(ip -4 -br addr: 10.2.60.200/24 removed, the configured address left)"
# The configured address itself changes, same subnet: with --prune the old
# (primary) one goes first, then the new one is added; in the other order the
# kernel would delete the new secondary together with the old primary.
sed 's#^addresses = \["10.2.60.100/24"\]#addresses = ["10.2.60.101/24"]#' "$CFG" >/tmp/addr.toml
expect_eq idempotent.readdress_config "$(grep -c '10.2.60.101/24' /tmp/addr.toml)" 1 "(/tmp/addr.toml)"
cli setup --config /tmp/addr.toml --prune
expect_rc idempotent.readdress_exit 0
expect_eq idempotent.readdress_v4 "$(ip -4 -br addr show dev eth0pve060 | awk '{ print $3, $4 }' | sed 's/ $//')" "10.2.60.101/24" "(ip -4 -br addr)"
cli setup --config "$CFG" --prune
expect_rc idempotent.readdress_back_exit 0
expect_eq idempotent.readdress_back_v4 "$(ip -4 -br addr show dev eth0pve060 | awk '{ print $3, $4 }' | sed 's/ $//')" "10.2.60.100/24" "(ip -4 -br addr)"
# A gateway changed in the config replaces the default route (a plain add
# would fail with EEXIST and leave the old one); changing it back converges too.
sed 's/^gateway = "10.0.50.1"/gateway = "10.0.50.2"/' "$CFG" >/tmp/gw.toml
expect_eq idempotent.gw_config "$(grep -c '^gateway = "10.0.50.2"' /tmp/gw.toml)" 1 "(/tmp/gw.toml)"
cli setup --config /tmp/gw.toml --dry-run --json
if json_true "$CLI_OUT" '[.warnings[] | select(contains("replaces the default route"))] | length == 1'; then
    pass idempotent.gw_dry_run_warns "$(jq -r '.warnings[] | select(contains("replaces"))' "$CLI_OUT" | cut -c1-140)"
else
    fail idempotent.gw_dry_run_warns "$(head -c 300 "$CLI_OUT")"
fi
for gw in 10.0.50.2 10.0.50.1; do
    if [ "$gw" = 10.0.50.2 ]; then cli setup --config /tmp/gw.toml; else cli setup --config "$CFG"; fi
    expect_rc "idempotent.gw_${gw}_exit" 0
    expect_eq "idempotent.gw_${gw}_route" "$(ip route show default | sed 's/ linkdown//' | tr '\n' ';')" "default via $gw dev eth0pve050 ;" "(one default route)"
done
# A VF unbound by hand (no driver, no netdev): setup gives it its network
# driver back, then its name, link settings and address.
echo "$(vf_addr 2)" >/sys/bus/pci/drivers/igbvf/unbind
expect_eq idempotent.unbound_precondition "$(vf_driver 2)[$(vf_netdev 2)]" "[]" "(VF 2 unbound)"
cli setup --config "$CFG" --dry-run --json
if json_true "$CLI_OUT" '[.changes[] | select(.vf == 2 and .attr == "driver" and .from == "(none)" and .to == "default")] | length == 1'; then
    pass idempotent.unbound_planned "driver (none) -> default"
else
    fail idempotent.unbound_planned "$(jq -c '[.changes[] | select(.vf == 2) | {attr, from, to}]' "$CLI_OUT" 2>&1 | cut -c1-250)"
fi
cli setup --config "$CFG"
expect_rc idempotent.unbound_exit 0
expect_eq idempotent.unbound_back "$(vf_driver 2) $(vf_netdev 2) $(ip -4 -br addr show dev eth0pve060 2>&1 | awk '{ print $3 }')" "igbvf eth0pve060 10.2.60.100/24" "(driver, netdev, address)"
