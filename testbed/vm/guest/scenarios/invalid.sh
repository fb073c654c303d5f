# shellcheck shell=sh
# Invalid configs (many kinds) exit 2 and change nothing, on a fresh host and on
# a configured one. Each bad config also carries a valid change (VF 1 to VLAN 99)
# so that a partial apply would show in the snapshot.

HEAD='[[pf]]
name = "eth0"
num_vfs = 7

[[pf.vf]]
index = 1
vlan = 99
'
# kind|loc|fragment ("loc": the error must carry file:line:col; "start": found
# against the live host, its first error line starts with file:line:col of the
# offending key). \n = newline.
KINDS='index_out_of_range|loc|[[pf.vf]]\nindex = 7\nvlan = 10
vlan_4095|loc|[[pf.vf]]\nindex = 2\nvlan = 4095
vlan_negative|loc|[[pf.vf]]\nindex = 2\nvlan = -1
qos_8|loc|[[pf.vf]]\nindex = 2\nvlan = 10\nqos = 8
multicast_mac|loc|[[pf.vf]]\nindex = 2\nmac = "03:00:00:00:00:01"
zero_mac|loc|[[pf.vf]]\nindex = 2\nmac = "00:00:00:00:00:00"
bad_mac|loc|[[pf.vf]]\nindex = 2\nmac = "02:00:00:00:01"
name_16_bytes|loc|[[pf.vf]]\nindex = 2\nname = "eth1lxc9999v0500"
name_slash|loc|[[pf.vf]]\nindex = 2\nname = "eth/0"
name_space|loc|[[pf.vf]]\nindex = 2\nname = "eth 0"
name_dotdot|loc|[[pf.vf]]\nindex = 2\nname = ".."
duplicate_names|loc|[[pf.vf]]\nindex = 2\nname = "vfdup"\n[[pf.vf]]\nindex = 3\nname = "vfdup"
name_taken_by_lo|start|[[pf.vf]]\nindex = 2\nname = "lo"
bad_address|loc|[[pf.vf]]\nindex = 2\nname = "vfa"\naddresses = ["10.0.50.300/24"]
bad_prefix|loc|[[pf.vf]]\nindex = 2\nname = "vfa"\naddresses = ["10.0.50.3/33"]
bad_gateway|loc|[[pf.vf]]\nindex = 2\nname = "vfa"\naddresses = ["10.0.50.3/24"]\ngateway = "10.0.50"
mtu_too_small|loc|[[pf.vf]]\nindex = 2\nname = "vfa"\nmtu = 20
negative_rate|loc|[[pf.vf]]\nindex = 2\nmax_tx_rate = -5
min_above_max|loc|[[pf.vf]]\nindex = 2\nmin_tx_rate = 500\nmax_tx_rate = 100
bad_vlan_proto|loc|[[pf.vf]]\nindex = 2\nvlan = 10\nvlan_proto = "802.1x"
bad_link_state|loc|[[pf.vf]]\nindex = 2\nlink_state = "sometimes"
vfio_with_name|loc|[[pf.vf]]\nindex = 2\ndriver = "vfio-pci"\nname = "vfx"
vfio_with_address|loc|[[pf.vf]]\nindex = 2\ndriver = "vfio-pci"\naddresses = ["10.0.9.1/24"]
unknown_key|loc|[[pf.vf]]\nindex = 2\nvlan_id = 10
wrong_type|loc|[[pf.vf]]\nindex = 2\ntrust = "yes"
key_set_twice|loc|[[pf.vf]]\nindex = 1\nvlan = 98
syntax_error|loc|[[pf.vf]\nindex = 2'

# Whole-file cases (no HEAD).
FILES='num_vfs_8|start|[[pf]]\nname = "eth0"\nnum_vfs = 8\n[[pf.vf]]\nindex = 1\nvlan = 99
no_such_pf|start|[[pf]]\nname = "eth9"\nnum_vfs = 2\n[[pf]]\nname = "eth0"\nnum_vfs = 7\n[[pf.vf]]\nindex = 1\nvlan = 99
no_such_pci|start|[[pf]]\npci = "0000:07:00.0"\nnum_vfs = 2\n[[pf]]\nname = "eth0"\nnum_vfs = 7\n[[pf.vf]]\nindex = 1\nvlan = 99
bad_pci|loc|[[pf]]\npci = "0000:01:00.9"\nnum_vfs = 2
pf_without_name|loc|[[pf]]\nnum_vfs = 2
name_and_pci|loc|[[pf]]\nname = "eth0"\npci = "0000:01:00.0"\nnum_vfs = 2
same_pf_twice|-|[[pf]]\nname = "eth0"\nnum_vfs = 7\n[[pf]]\npci = "0000:01:00.0"\nnum_vfs = 7'

run_invalid() { # PHASE
    phase=$1
    snapshot /tmp/inv.before
    printf '%s\n' "$KINDS" | while IFS='|' read -r kind loc frag; do
        { printf '%s\n' "$HEAD"; printf '%b\n' "$frag"; } >/tmp/bad-$kind.toml
        one "$phase" "$kind" "$loc" /tmp/bad-$kind.toml
    done
    printf '%s\n' "$FILES" | while IFS='|' read -r kind loc frag; do
        printf '%b\n' "$frag" >/tmp/bad-$kind.toml
        one "$phase" "$kind" "$loc" /tmp/bad-$kind.toml
    done
}

one() { # PHASE KIND LOC FILE
    cli setup --config "$4"
    snapshot /tmp/inv.after
    why=""
    [ "$CLI_RC" = 2 ] || why="exit $CLI_RC (want 2);"
    cmp -s /tmp/inv.before /tmp/inv.after ||
        why="$why changed: $(diff /tmp/inv.before /tmp/inv.after | grep '^[-+][^-+]' | tr '\n' ' ' | cut -c1-150);"
    [ -s "$CLI_ERR" ] || why="$why no message on stderr;"
    if [ "$3" = loc ] && ! grep -qE "$4:[0-9]+:[0-9]+" "$CLI_ERR"; then why="$why no $4:line:col in the message;"; fi
    if [ "$3" = start ] && ! grep -m1 '^error:' "$CLI_ERR" | grep -qE "^error: $4:[0-9]+:[0-9]+: "; then
        why="$why the first error line does not start with $4:line:col;"; fi
    if [ -z "$why" ]; then pass "invalid.$1.$2" "exit 2, nothing changed: $(cli_err_line | cut -c1-120)"; else
        fail "invalid.$1.$2" "$why stderr: $(cli_err_line | cut -c1-120)"; fi
    # Repair anything a faulty run changed, so later kinds start from the same state.
    if ! cmp -s /tmp/inv.before /tmp/inv.after; then
        reset_host
        [ "$1" = configured ] && /tb/bin/sriov-cli setup --config /tb/guest/configs/guide.toml >/dev/null 2>&1
        snapshot /tmp/inv.before
    fi
}

# A live-host error points at the offending key: num_vfs = 8 above igb's
# sriov_totalvfs (7) names line 3, the num_vfs line, column 11, its value.
live_loc() { # PHASE
    cli setup --config /tmp/bad-num_vfs_8.toml
    expect_match "invalid.$1.num_vfs_8_at_key" "$(grep -m1 '^error:' "$CLI_ERR")" \
        "^error: /tmp/bad-num_vfs_8\\.toml:3:11: .*(8|7)" "(totalvfs $(cat "$PFDEV/sriov_totalvfs"))"
}

run_invalid fresh
live_loc fresh
/tb/bin/sriov-cli setup --config /tb/guest/configs/guide.toml >/dev/null 2>&1 ||
    note "guide setup failed: the configured phase runs on whatever state is there"
run_invalid configured
live_loc configured
