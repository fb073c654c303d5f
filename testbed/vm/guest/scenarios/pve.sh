# shellcheck shell=sh
# `sriov-cli pve sync-mappings` against the pvesh double (examples/pvesh-double.rs,
# /tb/bin/pvesh-double, as `pvesh` on PATH) over one pci.cfg, on real igb VFs:
# two simulated nodes (--node pve1, --node pve2: the same PF eth0) share the
# file and each keeps its own entries; VF count changes (4 -> 5 with a recreate,
# whose IOMMU groups the kernel may hand out again; 5 -> 3, which removes a VF a
# mapping names) make entries stale: `status` names them, the sync updates this
# node's entries only; a vfio-pci rebind leaves nothing to write; a second sync
# makes 0 writes; an edit of the file between the get and the set is retried,
# one after every get is given up after 3 attempts. Entries are checked against
# sysfs read here (not against sriov-cli's output), writes counted from the
# double's log.
ETC=/tmp/etc-pve
rm -rf "$ETC" /tmp/pvebin
mkdir -p "$ETC/mapping" /tmp/pvebin
ln -s /tb/bin/pvesh-double /tmp/pvebin/pvesh
export PVE_DOUBLE_ETC=$ETC
export PATH=/tmp/pvebin:$PATH
unset SRIOV_CLI_PVESH PVE_DOUBLE_EDIT_AFTER_GET
CFGF=$ETC/mapping/pci.cfg
LOG=$ETC/pvesh-double.log

if [ ! -x /tb/bin/pvesh-double ]; then
    fail pve.double "pvesh-double missing from the image (testbed/vm/build builds it: cargo build --release -p sriov-cli --example pvesh-double)"
    return 0
fi

pve_config() { # NUM_VFS POOL_VFS...
    _num=$1
    shift
    for n in pve1 pve2; do
        printf '[node.%s]\n[[node.%s.pf]]\nname = "eth0"\nnum_vfs = %s\n' "$n" "$n" "$_num"
        printf '[[node.%s.pf.vf]]\nindex = 1\ndriver = "vfio-pci"\nvm = "router0"\nvlan = 50\n' "$n"
        for i in "$@"; do
            printf '[[node.%s.pf.vf]]\nindex = %s\nmapping = "pool"\n' "$n" "$i"
        done
        echo
    done
}
pve_config 4 2 3 >/tmp/pve4.toml
pve_config 5 2 3 >/tmp/pve5.toml
pve_config 3 2 >/tmp/pve3.toml
# VF 2 on vfio-pci as well (the rebind)
awk '{ print } /^index = 2$/ { print "driver = \"vfio-pci\"" }' /tmp/pve3.toml >/tmp/pve3v.toml

# want NODE VF: the entry for VF N as sysfs shows it now (read here).
hex() { sed 's/^0x//' "$1"; }
want() {
    d=/sys/bus/pci/devices/$(vf_addr "$2")
    echo "node=$1,path=$(vf_addr "$2"),id=$(hex "$d/vendor"):$(hex "$d/device"),subsystem-id=$(hex "$d/subsystem_vendor"):$(hex "$d/subsystem_device"),iommugroup=$(vf_group "$2"),description=VF $2 of eth0"
}
# maps ID [NODE]: the `map` lines of section ID in pci.cfg (of NODE only).
maps() {
    awk -v id="$1" '/^[^\t]/ { in_s = ($1 == id); next } in_s && /^\tmap / { sub(/^\tmap /, ""); print }' "$CFGF" |
        { if [ -n "${2:-}" ]; then grep "^node=$2,"; else cat; fi; }
}
writes() { grep -c '^write ' "$LOG" 2>/dev/null || echo 0; }
sync_node() { # NODE CONFIG [ENV=VALUE]
    _n=$1 _c=$2
    shift 2
    if [ $# -gt 0 ]; then
        env "$@" timeout 120 /tb/bin/sriov-cli --node "$_n" --config "$_c" pve sync-mappings --json >"$CLI_OUT" 2>"$CLI_ERR"
    else
        timeout 120 /tb/bin/sriov-cli --node "$_n" --config "$_c" pve sync-mappings --json >"$CLI_OUT" 2>"$CLI_ERR"
    fi
    CLI_RC=$?
    note "\$ sriov-cli --node $_n --config $_c pve sync-mappings --json $* -> exit $CLI_RC"
    jq -c '{writes, errors, actions: [.mappings[] | {id, action, attempts}]}' "$CLI_OUT" 2>/dev/null | indent 5
    sed 's/^/  ! /' "$CLI_ERR" | head -n 20
}

cli --node pve1 setup --config /tmp/pve4.toml
expect_rc pve.setup 0
require_vfs pve.precondition 4 || return 0
g1=$(vf_group 1)
if [ -n "$g1" ]; then pass pve.iommu_groups "VF 1 $(vf_addr 1) in group $g1"; else
    fail pve.iommu_groups "VF 1 has no iommu_group: the sync needs the IOMMU (variant $TB_VARIANT)"; return 0; fi

# --- node pve1 creates both mappings -----------------------------------------
sync_node pve1 /tmp/pve4.toml
expect_rc pve.pve1_sync 0
expect_eq pve.pve1_writes "$(grep '^write ' "$LOG" | tr '\n' ' ')" "write create router0-v050 write create pool " "(double's log)"
expect_eq pve.pve1_entry "$(maps router0-v050)" "$(want pve1 1)" "(pci.cfg against sysfs)"
expect_eq pve.pve1_pool "$(maps pool | tr '\n' ' ')" "$(want pve1 2) $(want pve1 3) " "(two entries, one per VF)"
pve1_before=$(maps router0-v050 pve1; maps pool pve1)

# --- node pve2, same PF name, same file ------------------------------------------
w=$(writes)
sync_node pve2 /tmp/pve4.toml
expect_rc pve.pve2_sync 0
expect_eq pve.pve2_writes "$(($(writes) - w))" 2 "(set router0-v050, set pool)"
expect_eq pve.pve1_kept "$(maps router0-v050 pve1; maps pool pve1)" "$pve1_before" "(pve1's entries byte for byte after pve2's sync)"
expect_eq pve.pve2_entry "$(maps router0-v050 pve2)" "$(want pve2 1)"
expect_eq pve.pve2_pool_count "$(maps pool pve2 | wc -l)" 2

# --- again: 0 writes ----------------------------------------------------------
w=$(writes)
sync_node pve1 /tmp/pve4.toml
r1=$CLI_RC
sync_node pve2 /tmp/pve4.toml
expect_eq pve.second_sync "$r1 $CLI_RC $(($(writes) - w))" "0 0 0" "(exit codes, writes in the double's log)"
json_true "$CLI_OUT" '[.mappings[].action] == ["unchanged", "unchanged"] and .writes == 0' &&
    pass pve.second_sync_json "" || fail pve.second_sync_json "$(head -c 300 "$CLI_OUT")"

# --- a VF count change with a recreate (4 -> 0 -> 5) ------------------------------
cli --node pve1 setup --config /tmp/pve5.toml --allow-recreate
expect_rc pve.recreate 0
g1new=$(vf_group 1)
cli --node pve1 status --json
expect_rc pve.status_exit 0
if [ "$g1new" != "$g1" ]; then
    pass pve.group_changed "VF 1: group $g1 -> $g1new"
    json_true "$CLI_OUT" '[.mappings.stale[] | select(.mapping == "router0-v050" and .fix == "sriov-cli pve sync-mappings")] | length == 1' &&
        pass pve.status_names_new_group "$(jq -c '[.mappings.stale[].problems[0]]' "$CLI_OUT" | cut -c1-200)" ||
        fail pve.status_names_new_group "$(head -c 400 "$CLI_OUT")"
else
    # drivers/iommu/iommu.c iommu_group_alloc(): ida_alloc() hands out the
    # lowest free id, so VFs destroyed and created again get their old groups.
    skip pve.group_changed "VF 1 is back in IOMMU group $g1 (the kernel's iommu_group_alloc reuses the lowest free id): no stale entry from this recreate"
    expect_eq pve.status_none_stale "$(jq -r '.mappings.stale | length' "$CLI_OUT" 2>/dev/null)" 0 "(groups and paths as before)"
fi
pve2_before=$(maps router0-v050 pve2; maps pool pve2)
sync_node pve1 /tmp/pve5.toml
expect_rc pve.recreate_sync 0
expect_eq pve.recreate_entry "$(maps router0-v050 pve1)" "$(want pve1 1)" "(pci.cfg against sysfs after the recreate)"
expect_eq pve.recreate_pool "$(maps pool pve1 | tr '\n' ' ')" "$(want pve1 2) $(want pve1 3) "

# --- a VF count change that removes a VF a mapping names (5 -> 3) ---------------------
a3=$(vf_addr 3)
cli --node pve1 setup --config /tmp/pve3.toml --allow-recreate
expect_rc pve.shrink 0
require_vfs pve.shrink_precondition 3 || return 0
cli --node pve1 status --json
if json_true "$CLI_OUT" "[.mappings.stale[] | select(.mapping == \"pool\" and (.problems[0] == \"path $a3: no such PCI device in sysfs\"))] | length == 1"; then
    pass pve.status_names_gone_vf "pool's entry for $a3 (VF 3): no such PCI device"
else
    fail pve.status_names_gone_vf "$(head -c 400 "$CLI_OUT")"
fi
# the text form: a warning on stderr with the fix
cli --node pve1 status
if grep -q "^warning: mapping pool: node pve1's entry \`node=pve1,path=$a3,.*fix: \`sriov-cli pve sync-mappings\`" "$CLI_ERR"; then
    pass pve.status_warns "$(grep -m1 '^warning: mapping pool' "$CLI_ERR" | cut -c1-160)"
else
    fail pve.status_warns "$(cli_err_line)"
fi
l=$(wc -l <"$LOG")
sync_node pve1 /tmp/pve3.toml
expect_rc pve.update_sync 0
expect_eq pve.update_writes "$(tail -n +"$((l + 1))" "$LOG" | grep '^write ' | tr '\n' ' ')" "write set pool " "(double's log)"
expect_eq pve.updated_pool "$(maps pool pve1)" "$(want pve1 2)" "(one entry for this node now, as sysfs shows VF 2)"
expect_eq pve.updated_entry "$(maps router0-v050 pve1)" "$(want pve1 1)"
expect_eq pve.pve2_kept "$(maps router0-v050 pve2; maps pool pve2)" "$pve2_before" "(the other node's entries untouched)"
cli --node pve1 status --json
expect_eq pve.status_clean "$(jq -r '.mappings.stale | length' "$CLI_OUT" 2>/dev/null)" 0 "(after the sync)"

# --- vfio rebind: VF 2 to vfio-pci keeps its path, ids and group --------------------
cli --node pve1 setup --config /tmp/pve3v.toml
expect_rc pve.rebind 0
expect_eq pve.rebind_driver "$(vf_driver 2)" vfio-pci
w=$(writes)
sync_node pve1 /tmp/pve3v.toml
expect_eq pve.rebind_sync "$CLI_RC $(($(writes) - w))" "0 0" "(exit, writes: a vfio rebind changes nothing a mapping holds)"

# --- an edit between the get and the set -------------------------------------------
# pve2's VF 1 entry made stale by hand (so that its sync has a set to do); the
# double edits the file right after the first read: the set is refused, the
# sync reads again and writes.
tab=$(printf '\t')
sed -i "s/^\(${tab}map node=pve2,path=$(vf_addr 1),.*iommugroup=\)[0-9]*/\19999/" "$CFGF"
expect_match pve.retry_precondition "$(maps router0-v050 pve2)" 'iommugroup=9999,'
l=$(wc -l <"$LOG")
sync_node pve2 /tmp/pve3.toml PVE_DOUBLE_EDIT_AFTER_GET=1
expect_rc pve.retry_sync 0
tail -n +"$((l + 1))" "$LOG" | indent 12
if tail -n +"$((l + 1))" "$LOG" | tr '\n' ' ' | grep -q '^read router0-v050 edit double-edit-1 refused set router0-v050 digest read router0-v050 write set router0-v050 '; then
    pass pve.retry_log "refused once, written on the second read (double's log)"
else
    fail pve.retry_log "$(tail -n +"$((l + 1))" "$LOG" | tr '\n' ' ' | cut -c1-300)"
fi
json_true "$CLI_OUT" '.mappings[0].attempts == 2 and .mappings[0].action == "update"' &&
    pass pve.retry_json "" || fail pve.retry_json "$(head -c 300 "$CLI_OUT")"
expect_eq pve.retry_entry "$(maps router0-v050 pve2)" "$(want pve2 1)"
expect_eq pve.retry_pool "$(maps pool pve2)" "$(want pve2 2)"
expect_eq pve.retry_kept_edit "$(maps double-edit-1 | wc -l)" 1 "(the other writer's section kept)"
expect_eq pve.retry_kept_pve1 "$(maps router0-v050 pve1; maps pool pve1)" "$(want pve1 1; want pve1 2)"
w=$(writes)
sync_node pve2 /tmp/pve3.toml
r2=$CLI_RC
sync_node pve1 /tmp/pve3.toml
expect_eq pve.final_zero_writes "$r2 $CLI_RC $(($(writes) - w))" "0 0 0" "(exit codes, writes in the double's log)"

# --- the digest stale at every read: bounded, then exit 1 ----------------------
sed -i "s/^\(${tab}map node=pve1,path=$(vf_addr 1),.*iommugroup=\)[0-9]*/\19999/" "$CFGF"
expect_match pve.stale_forever_precondition "$(maps router0-v050 pve1)" 'iommugroup=9999,'
l=$(wc -l <"$LOG")
sync_node pve1 /tmp/pve3.toml PVE_DOUBLE_EDIT_AFTER_GET=1000
refused=$(tail -n +"$((l + 1))" "$LOG" | grep -c '^refused set router0-v050 digest')
expect_eq pve.stale_forever "$CLI_RC $refused $(tail -n +"$((l + 1))" "$LOG" | grep -c '^write ')" "1 3 0" "(exit, refused sets, writes)"
if grep -q '^error: mapping router0-v050: /etc/pve/mapping/pci.cfg changed between the read and the write 3 times' "$CLI_ERR"; then
    pass pve.stale_forever_error "$(head -n1 "$CLI_ERR" | cut -c1-160)"
else
    fail pve.stale_forever_error "$(cli_err_line)"
fi
