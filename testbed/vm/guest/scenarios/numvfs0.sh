# shellcheck shell=sh
# num_vfs = 0 for a PF whose VFs are in use destroys them like any other
# count change: without --allow-recreate it is refused (exit 2, also with
# --dry-run), naming what would be destroyed (the guide's VF 6 on vfio-pci),
# and nothing changes; with --allow-recreate the VFs go.
CFG=/tb/guest/configs/guide.toml
cat >/tmp/zero.toml <<'TOML'
[[pf]]
name = "eth0"
num_vfs = 0
TOML

cli setup --config "$CFG"
expect_rc_errors numvfs0.guide_setup 0
if require_vfs numvfs0.precondition 7; then
    a6=$(vf_addr 6) g6=$(vf_group 6)
    expect_eq numvfs0.vf6_vfio "$(vf_driver 6)" vfio-pci "(sysfs virtfn6/driver, the guide's passthrough VF)"
    snapshot /tmp/zero.a

    cli setup --config /tmp/zero.toml --dry-run
    expect_eq numvfs0.dry_run_refused "$CLI_RC" 2 "(stderr: $(cli_err_line); stdout: $(head -c 120 "$CLI_OUT" | tr '\n' ' '))"
    expect_match numvfs0.dry_run_names_vf6 "$(cat "$CLI_ERR")" "VF 6 .*vfio-pci" "(stderr names VF 6 and vfio-pci)"
    snapshot /tmp/zero.b
    if cmp -s /tmp/zero.a /tmp/zero.b; then pass numvfs0.dry_run_nothing_changed "numvfs $(numvfs)"; else
        fail numvfs0.dry_run_nothing_changed "$(diff /tmp/zero.a /tmp/zero.b | grep '^[-+][^-+]' | tr '\n' ' ')"; fi

    cli setup --config /tmp/zero.toml
    expect_eq numvfs0.refused "$CLI_RC" 2 "(stderr: $(cli_err_line); stdout: $(head -c 120 "$CLI_OUT" | tr '\n' ' '))"
    expect_match numvfs0.names_vf6 "$(cat "$CLI_ERR")" "VF 6 .*vfio-pci" "(stderr names VF 6 and vfio-pci)"
    expect_match numvfs0.hint "$(cat "$CLI_ERR")" 'allow-recreate' "(stderr tells how to proceed)"
    expect_eq numvfs0.refused_numvfs "$(numvfs)" 7 "(sysfs sriov_numvfs unchanged)"
    snapshot /tmp/zero.c
    if cmp -s /tmp/zero.a /tmp/zero.c; then pass numvfs0.refused_nothing_changed "sysfs + ip view identical"; else
        fail numvfs0.refused_nothing_changed "$(diff /tmp/zero.a /tmp/zero.c | grep '^[-+][^-+]' | tr '\n' ' ')"; fi

    # A refusal that did not happen destroyed the VFs: set the guide up again,
    # so that --allow-recreate below has VFs in use to remove.
    if [ "$(numvfs)" != 7 ]; then
        note "the VFs are gone (sriov_numvfs $(numvfs)): guide setup again for the --allow-recreate part"
        cli setup --config "$CFG"
    fi
    if require_vfs numvfs0.allow_precondition 7; then
        a6=$(vf_addr 6) g6=$(vf_group 6)
        cli setup --config /tmp/zero.toml --allow-recreate
        expect_rc_errors numvfs0.allowed_exit 0
        expect_eq numvfs0.allowed_numvfs "$(numvfs) $([ -e "$PFDEV/virtfn0" ] && echo virtfn0 || echo none)" "0 none" "(sysfs)"
        expect_eq numvfs0.allowed_vfs_gone "$(ip -j -d link show dev "$PF" | jq '.[0].vfinfo_list // [] | length') $(ip -br link | grep -c 'eth0pve\|eth1lxc')" "0 0" "(ip -d link vfinfo_list, ip -br link)"
        expect_eq numvfs0.allowed_vfio_gone "$([ -n "$g6" ] && [ -e "/dev/vfio/$g6" ] && echo "/dev/vfio/$g6 present" || echo gone) $([ -e "/sys/bus/pci/devices/$a6" ] && echo "$a6 present" || echo gone)" "gone gone" "(/dev/vfio, /sys/bus/pci/devices)"
        cli setup --config /tmp/zero.toml --json
        expect_rc_errors numvfs0.allowed_second_exit 0
        if json_true "$CLI_OUT" '(.changes | length == 0) and ((.errors // []) | length == 0)'; then
            pass numvfs0.allowed_second_json_empty '{"changes": []}'
        else
            fail numvfs0.allowed_second_json_empty "$(jq -c '[.changes[]? | {vf, attr, from, to, status}] + [.errors[]?]' "$CLI_OUT" 2>&1 | cut -c1-250)"
        fi
    fi
fi
echo 0 >"$PFDEV/sriov_numvfs"
