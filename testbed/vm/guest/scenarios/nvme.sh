# shellcheck shell=sh
# A PF that is not a NIC (issue 15, item 5): this boot gets a QEMU nvme
# controller with SR-IOV (4 VFs, testbed/vm/run) behind its own root port. The
# PF has no netdev, nor have its VFs. `status` (text and JSON) shows it by its
# PCI address, a `setup` by `pci` selector creates 2 VFs and binds VF 1 to
# vfio-pci, a second run changes nothing, `--dry-run` plans nothing, `reset`
# takes it back to 0. Every check reads sysfs (virtfnN links, driver links,
# sriov_numvfs) or /dev/vfio itself. The VFs get no flexible queue/interrupt
# resources (nvme-cli virt-mgmt is not in the image): the nvme driver cannot
# start them, vfio-pci does not need to.

nvme_pf_or_return nvme || return 0
expect_eq nvme.pf_sysfs "$(cat "$NDEV/sriov_totalvfs") $(cat "$NDEV/sriov_numvfs") $(nvme_driver) [$(ls "$NDEV/net" 2>/dev/null | tr '\n' ' ')]" \
    "4 0 nvme []" "(sysfs: sriov_totalvfs, sriov_numvfs, driver link, no net/ of $NPCI)"

# status --json against sysfs: the PF by its address, no netdev, its counts.
cli status --json
expect_rc nvme.status_json_exit 0
expect_eq nvme.status_json_pf "$(jq -c --arg a "$NPCI" '[.pfs[] | select(.address == $a) | {netdevs, driver, total_vfs, num_vfs, vfs: (.vfs | length)}]' "$CLI_OUT" 2>&1)" \
    "[{\"netdevs\":[],\"driver\":\"$(nvme_driver)\",\"total_vfs\":$(cat "$NDEV/sriov_totalvfs"),\"num_vfs\":$(cat "$NDEV/sriov_numvfs"),\"vfs\":0}]" "(status --json against sysfs)"
cli status
expect_rc nvme.status_exit 0
expect_match nvme.status_text "$(grep "^PF $NPCI" "$CLI_OUT")" "^PF $NPCI .*driver nvme.*VFs 0 of 4" "(the PF's heading line)"

CFG=/tmp/nvme.toml
cat >"$CFG" <<TOML
[[pf]]
pci = "$NPCI"
num_vfs = 2

[[pf.vf]]
index = 1
driver = "vfio-pci"
TOML
cli setup --config "$CFG" --json
expect_rc_errors nvme.setup_exit 0
expect_eq nvme.setup_numvfs "$(cat "$NDEV/sriov_numvfs")" 2 "(sysfs)"
nvme_require_vfs nvme.precondition 2 || return 0
g1=$(nvme_vf_group 1)
expect_eq nvme.vf1_vfio "$(nvme_vf_driver 1)" vfio-pci "(sysfs: virtfn1/driver)"
if [ -n "$g1" ] && [ -c "/dev/vfio/$g1" ]; then pass nvme.vf1_vfio_node "/dev/vfio/$g1"; else
    fail nvme.vf1_vfio_node "group '$g1', /dev/vfio: $(ls /dev/vfio 2>&1 | tr '\n' ' ')"; fi
expect_eq nvme.vf_no_netdevs "[$(ls "$NDEV/virtfn0/net" "$NDEV/virtfn1/net" 2>/dev/null | tr '\n' ' ')]" "[]" "(sysfs: no net/ under virtfn0, virtfn1)"
note "VF 0: driver '$(nvme_vf_driver 0)'; dmesg for it:"
dmesg | grep -F "$(nvme_vf_addr 0)" | tail -n 8 | indent

# status --json of the VFs against the virtfnN links. The nvme driver gives
# up on a VF without queue resources asynchronously (its reset work fails and
# removes the dead controller, drivers/nvme/host/pci.c nvme_reset_work ->
# nvme_remove_dead_ctrl), so VF 0's driver link may go away at any moment:
# the links are read before and after the status run, and a run is compared
# only when both reads agree (at most 5 tries, 2 s apart).
vf_links() {
    i=0; while [ -e "$NDEV/virtfn$i" ]; do printf '{"index":%s,"address":"%s","netdev":null,"driver":%s}\n' "$i" "$(nvme_vf_addr $i)" \
        "$(d=$(nvme_vf_driver $i); [ -n "$d" ] && printf '"%s"' "$d" || echo null)"; i=$((i + 1)); done | jq -sc .
}
tries=0
while :; do
    want=$(vf_links)
    cli status --json
    after=$(vf_links)
    tries=$((tries + 1))
    [ "$want" = "$after" ] && break
    note "VF links changed during status (before $want, after $after); try $tries"
    [ "$tries" -ge 5 ] && break
    sleep 2
done
expect_eq nvme.status_json_vfs "$(jq -c --arg a "$NPCI" '.pfs[] | select(.address == $a) | [.vfs[] | {index, address, netdev, driver}]' "$CLI_OUT" 2>&1)" \
    "$want" "(status --json against virtfnN links and driver links)"
expect_eq nvme.status_json_numvfs "$(jq -c --arg a "$NPCI" '.pfs[] | select(.address == $a) | [.num_vfs, .vfs[1].vfio_dev]' "$CLI_OUT" 2>&1)" \
    "[2,\"/dev/vfio/$g1\"]"

# A second run changes nothing: no applied change, sysfs the same.
nvme_snapshot /tmp/nvme.a
cli setup --config "$CFG" --json
expect_rc_errors nvme.again_exit 0
expect_eq nvme.again_nothing_applied "$(jq -c '[.changes[] | select(.status == "applied") | {vf, attr, from, to}]' "$CLI_OUT" 2>&1)" "[]" "(setup --json)"
nvme_snapshot /tmp/nvme.b
if cmp -s /tmp/nvme.a /tmp/nvme.b; then pass nvme.again_sysfs_unchanged "$(tr '\n' ' ' </tmp/nvme.b | cut -c1-200)"; else
    fail nvme.again_sysfs_unchanged "$(diff /tmp/nvme.a /tmp/nvme.b | grep '^[-+][^-+]' | tr '\n' ' ' | cut -c1-250)"; fi
cli setup --config "$CFG" --dry-run --json
expect_rc_errors nvme.dry_run_exit 0
expect_eq nvme.dry_run_empty "$(jq -c '.changes' "$CLI_OUT" 2>&1)" "[]" "(setup --dry-run --json)"
cli setup --config "$CFG" --dry-run
note "setup --dry-run (text) printed $(wc -l <"$CLI_OUT") lines"

cli reset "$NPCI" --allow-recreate
expect_rc_errors nvme.reset_exit 0
expect_eq nvme.reset_numvfs "$(cat "$NDEV/sriov_numvfs") [$(ls -d "$NDEV"/virtfn* 2>/dev/null | tr '\n' ' ')]" "0 []" "(sysfs)"
