# shellcheck shell=sh
# Attributes igb refuses (link-state, min rate, 802.1ad, query_rss) are
# reported precisely, per VF and attribute, while the rest is applied.
# igb takes max_tx_rate only while the PF link is up (E1000_STATUS_LU; EINVAL
# otherwise): bring it up and wait for the carrier first.
ip link set "$PF" up
pf_carrier() { [ "$(cat "/sys/class/net/$PF/carrier" 2>/dev/null)" = 1 ]; }
wait_until 15 pf_carrier || note "PF carrier still down after 15 s"
cat >/tmp/unsup.toml <<'TOML'
[[pf]]
name = "eth0"
num_vfs = 3

[[pf.vf]]
index = 0
vlan = 10
link_state = "enable"
query_rss = true

[[pf.vf]]
index = 1
vlan = 20
trust = true
min_tx_rate = 10

[[pf.vf]]
index = 2
vlan = 30
vlan_proto = "802.1ad"
max_tx_rate = 100
spoofchk = false
TOML

cli setup --config /tmp/unsup.toml --json
expect_rc unsupported.exit 1
failed=$(jq -r '[.changes[] | select(.status == "refused" or .status == "ignored" or .status == "failed") | "\(.vf):\(.attr)"] | sort | join(" ")' "$CLI_OUT" 2>/dev/null)
failed=$(echo "$failed" | sed 's/2:vlan_proto/2:vlan/')
expect_eq unsupported.reported_precisely "$failed" "0:link_state 0:query_rss 1:min_tx_rate 2:vlan" "(refused/ignored changes in --json)"
if json_true "$CLI_OUT" '([.changes[] | select(.status == "refused" or .status == "ignored" or .status == "failed")] | length > 0) and ([.changes[] | select(.status == "refused" or .status == "ignored" or .status == "failed") | select((.detail // "") == "")] | length == 0)'; then
    pass unsupported.detail "each refusal carries a detail: $(jq -r '[.changes[] | select(.status == "refused") | .detail] | first' "$CLI_OUT" 2>/dev/null | cut -c1-80)"
else
    fail unsupported.detail "a refused change has no detail"
fi
if json_true "$CLI_OUT" '(.changes | length) > 0'; then
    skipped=$(jq -r '[.changes[] | select(.status == "skipped") | "\(.vf):\(.attr)"] | join(" ")' "$CLI_OUT" 2>/dev/null)
    expect_eq unsupported.nothing_skipped "$skipped" "" "(the rest must be applied, not skipped)"
else
    fail unsupported.nothing_skipped "no changes in --json: $(head -c 100 "$CLI_OUT")"
fi
expect_eq unsupported.rest_applied "$(vf_info 0 '.vlan_list[0].vlan') $(vf_info 1 '.vlan_list[0].vlan') trust=$(vf_info 1 .trust) max=$(vf_info 2 .rate.max_tx) spoofchk=$(vf_info 2 .spoofchk)" \
    "10 20 trust=true max=100 spoofchk=false" "(ip -d link)"
expect_eq unsupported.unsupported_not_applied "state=$(vf_info 0 .link_state) min=$(vf_info 1 .rate.min_tx) vlan2=$(vf_info 2 '.vlan_list[0].vlan // 0')" "state=auto min=0 vlan2=0"
cli setup --config /tmp/unsup.toml
text=$(cat "$CLI_OUT" "$CLI_ERR")
expect_match unsupported.text_names_attrs "$text" 'link.?state' "(human output names link-state)"
expect_match unsupported.text_names_min_rate "$text" 'min.?tx.?rate|min rate' "(human output names min_tx_rate)"
cli setup --config /tmp/unsup.toml --json
left=$(jq -r '[.changes[] | "\(.vf):\(.attr)"] | sort | join(" ")' "$CLI_OUT" 2>/dev/null | sed 's/2:vlan_proto/2:vlan/')
expect_eq unsupported.rerun_only_unsupported "$left" "0:link_state 0:query_rss 1:min_tx_rate 2:vlan" "(a re-run retries only what the driver refused)"
ip link set "$PF" down
