# shellcheck shell=sh
# Guest-side VM benchmark (issue 8, item 3), a testbed scenario: sourced by
# testbed/vm/guest/main with lib.sh after reset_host (no VFs), $PF/$PFDEV set.
#
# Three ways to reach the guide's layout (testbed/vm/guest/configs/guide.toml:
# 7 VFs; VLAN/QoS/MAC/trust/spoofchk; renames, up, promisc, MTU, addresses,
# default route; VF 6 on vfio-pci), timed from the first write to the end:
#   floor  : echo 7 > sriov_numvfs, then wait until all 7 VF netdevs exist
#            (the kernel's own cost: nothing can be faster);
#   setup  : sriov-cli setup --config guide.toml;
#   guide  : the guide's script (one `sh -c` + one `ip` per command, as its
#            ExecStart= lines do), without its `sleep 10`.
# and, to show where setup's time goes beyond the floor:
#   ipbatch: the same kernel work with the least user space (count, poll for the
#            netdevs, two `ip -batch` runs, the vfio-pci bind in-shell): the
#            floor for the whole layout rather than for the VF count alone;
#   cfg    : sriov-cli setup when the 7 VFs already exist (configuration only);
#   noop   : a second sriov-cli setup on the converged host (start-up, reading
#            sysfs + netlink state, planning, verifying: the fixed overhead);
#   vfio   : binding VF 6 to vfio-pci by hand (driver_override, unbind,
#            drivers_probe), the single slowest step under TCG.
# Each is run BENCH_REPS times (default 3), interleaved, from a reset host.
# Wiring: copy this file to the guest as /tb/guest/scenarios/bench.sh and boot
# with tb_sets=bench (benches/vm/run does exactly that from outside testbed/).
# Results: CHECK lines for what must work, a `BENCH ...` summary line with the
# medians and ratios (target: setup within 1.2x of the floor), and the last
# setup run's `--timings` breakdown. Timing is
# measured and printed, never asserted.

BENCH_CFG=${BENCH_CFG:-/tb/guest/configs/guide.toml}
# Repetitions: $BENCH_REPS, else `tb_bench_reps=N` on the kernel command line, else 3.
[ -n "${BENCH_REPS:-}" ] || BENCH_REPS=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^tb_bench_reps=//p' | tail -n1)
case ${BENCH_REPS:-} in '' | *[!0-9]*) BENCH_REPS=3 ;; esac

# Nanoseconds since boot: /proc/timer_list's "now at N nsecs" (busybox date has
# no %N); falls back to /proc/uptime (10 ms steps).
bench_now() {
    _n=$(grep -m1 '^now at' /proc/timer_list 2>/dev/null | sed 's/^now at \([0-9]*\) nsecs.*/\1/')
    if [ -n "$_n" ]; then echo "$_n"; return; fi
    _u=$(cut -d' ' -f1 /proc/uptime)
    echo $(( ${_u%.*} * 1000000000 + ${_u#*.} * 10000000 ))
}

bench_ms() { # NS -> "123.4"
    echo "$(( $1 / 1000000 )).$(( ($1 / 100000) % 10 ))"
}

bench_ratio() { # A B -> A/B as "1.234"
    [ "$2" -gt 0 ] || { echo "n/a"; return; }
    _r=$(( $1 * 1000 / $2 ))
    printf '%d.%03d' $((_r / 1000)) $((_r % 1000))
}

bench_median() { # values... -> median
    printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"
}

bench_vf_netdev() { ls "$PFDEV/virtfn$1/net" 2>/dev/null | head -n1; }

# The guide's iproute2 commands (without the leading `ip`) in its order: VF
# attributes, then (after the vfio-pci bind) renames, ups, addresses, route.
bench_vf_attr_cmds() {
    cat <<EOF
link set $PF vf 0 trust on
link set $PF vf 1 vlan 50
link set $PF vf 1 mac 02:00:00:01:00:50
link set $PF vf 2 vlan 60 qos 3
link set $PF vf 3 vlan 70
link set $PF vf 4 vlan 50
link set $PF vf 4 spoofchk on
link set $PF vf 5 vlan 70 qos 5
link set $PF vf 5 mac 02:00:00:01:00:70
link set $PF vf 5 spoofchk off
link set $PF vf 6 vlan 50
link set $PF vf 6 mac 02:00:00:01:06:50
EOF
}
# VF netdev names come from sysfs (the guest has no udev, so there are no
# predictable <pf>vN names to hard-code).
bench_link_cmds() {
    for _p in 0:eth0pve0 1:eth0pve050 2:eth0pve060 3:eth0pve070 4:eth1lxc9999v050; do
        echo "link set dev $(bench_vf_netdev "${_p%%:*}") name ${_p#*:}"
    done
    cat <<EOF
link set dev eth0pve0 promisc on
link set dev eth0pve070 mtu 9000
link set dev eth0pve0 up
link set dev eth0pve050 up
link set dev eth0pve060 up
link set dev eth0pve070 up
link set dev eth1lxc9999v050 up
address add 10.0.50.100/24 dev eth0pve050
address add 10.2.60.100/24 dev eth0pve060
address add 10.2.70.100/24 dev eth0pve070
route add default via 10.0.50.1
EOF
}

# Binds VF 6 to vfio-pci with three sysfs writes, each run through RUN
# (`_bench_sh` for one process each, `eval` in-shell).
bench_vfio_bind_vf6() {
    _d6=$(basename "$(readlink "$PFDEV/virtfn6")")
    $1 "echo vfio-pci > /sys/bus/pci/devices/$_d6/driver_override" &&
    $1 "echo $_d6 > /sys/bus/pci/devices/$_d6/driver/unbind" &&
    $1 "echo $_d6 > /sys/bus/pci/drivers_probe"
}

_bench_sh() { sh -c "$1" || { echo "guide step failed: $1" >&2; return 1; }; }

# The guide's way: one `sh -c` + one process per command (its ExecStart= lines
# are `bash -c '...'`), no sleep.
bench_guide_script() {
    _bench_sh "echo 7 > $PFDEV/sriov_numvfs" || return 1
    bench_vf_attr_cmds >/tmp/bench.cmds
    while read -r _c; do _bench_sh "/tb/bin/ip $_c" || return 1; done </tmp/bench.cmds
    bench_vfio_bind_vf6 _bench_sh || return 1
    bench_link_cmds >/tmp/bench.cmds
    while read -r _c; do _bench_sh "/tb/bin/ip $_c" || return 1; done </tmp/bench.cmds
}

# The same kernel work with the least user space: the VF count, a wait for the
# netdevs (polling, 1 ms), one `ip -batch` for the VF attributes, the vfio-pci
# bind in-shell, one `ip -batch` for the links. A floor for the whole layout.
bench_ipbatch_script() {
    echo 7 >"$PFDEV/sriov_numvfs" || return 1
    while [ "$(count_vf_netdevs)" != 7 ]; do usleep 1000; done
    bench_vf_attr_cmds >/tmp/bench.batch
    /tb/bin/ip -batch /tmp/bench.batch || return 1
    bench_vfio_bind_vf6 eval || return 1
    bench_link_cmds >/tmp/bench.batch
    /tb/bin/ip -batch /tmp/bench.batch
}

# What both full methods must leave behind (a light read-back; setup.sh checks all).
bench_layout_ok() {
    [ "$(numvfs)" = 7 ] &&
    [ "$(vf_netdev 1)" = eth0pve050 ] &&
    [ "$(vf_netdev 4)" = eth1lxc9999v050 ] &&
    [ "$(vf_driver 6)" = vfio-pci ] &&
    [ "$(vf_info 2 '.vlan_list[0].vlan // 0')" = 60 ] &&
    ip -j route show default | grep -q 10.0.50.1
}

bench_one() { # METHOD -> prints elapsed ns, or nothing on failure
    reset_host
    wait_until 20 sh -c "[ \"\$(cat $PFDEV/sriov_numvfs)\" = 0 ]"
    _t0=$(bench_now)
    case $1 in
        floor)
            echo 7 >"$PFDEV/sriov_numvfs" || return 1
            while [ "$(count_vf_netdevs)" != 7 ]; do usleep 1000; done
            ;;
        setup)
            /tb/bin/sriov-cli setup --config "$BENCH_CFG" --timings >/tmp/bench.out 2>/tmp/bench.err || return 1
            cp /tmp/bench.err /tmp/bench.setup-timings
            ;;
        guide)
            bench_guide_script 2>/tmp/bench.err >/dev/null || return 1
            ;;
        ipbatch)
            bench_ipbatch_script 2>/tmp/bench.err >/dev/null || return 1
            ;;
        cfg)
            set_numvfs 7 || return 1
            _t0=$(bench_now)
            /tb/bin/sriov-cli setup --config "$BENCH_CFG" >/tmp/bench.out 2>/tmp/bench.err || return 1
            ;;
        noop)
            /tb/bin/sriov-cli setup --config "$BENCH_CFG" >/tmp/bench.out 2>/tmp/bench.err || return 1
            _t0=$(bench_now)
            /tb/bin/sriov-cli setup --config "$BENCH_CFG" >/tmp/bench.out 2>/tmp/bench.err || return 1
            ;;
        vfio)
            set_numvfs 7 || return 1
            _d6=$(vf_addr 6)
            _t0=$(bench_now)
            echo vfio-pci >"/sys/bus/pci/devices/$_d6/driver_override" &&
            echo "$_d6" >"/sys/bus/pci/devices/$_d6/driver/unbind" &&
            echo "$_d6" >/sys/bus/pci/drivers_probe || return 1
            ;;
    esac
    _t1=$(bench_now)
    if { [ "$1" = setup ] || [ "$1" = guide ] || [ "$1" = cfg ] || [ "$1" = noop ] || [ "$1" = ipbatch ]; } && ! bench_layout_ok; then
        echo "layout not reached" >>/tmp/bench.err
        return 1
    fi
    echo $((_t1 - _t0))
}

if [ ! -x /tb/bin/sriov-cli ]; then
    fail bench.sriov_cli "sriov-cli missing from the image"
else
    floor="" setup="" guide="" ipbatch="" cfg="" noop="" vfio=""
    r=0
    while [ "$r" -lt "$BENCH_REPS" ]; do
        for m in floor setup guide ipbatch cfg noop vfio; do
            if t=$(bench_one $m) && [ -n "$t" ]; then
                note "bench run $r $m $(bench_ms "$t") ms"
                eval "$m=\"\$$m $t\""
            else
                fail "bench.$m.run$r" "$(tr '\n' ' ' </tmp/bench.err 2>/dev/null | cut -c1-250)"
            fi
        done
        r=$((r + 1))
    done
    reset_host
    # Where setup's time went (its --timings, last run): the count write, the
    # probes and each netdev operation are the kernel's and the driver's.
    if [ -s /tmp/bench.setup-timings ]; then
        note "setup --timings of the last run:"
        sed -n '/^timings:$/,$p' /tmp/bench.setup-timings | indent 80
    fi
    ok=1
    for m in floor setup guide ipbatch cfg noop vfio; do
        eval "v=\$$m"
        if [ -n "$v" ]; then
            # shellcheck disable=SC2086
            pass "bench.$m" "median $(bench_ms "$(bench_median $v)") ms of runs (ns):$v"
        else
            ok=0
        fi
    done
    if [ "$ok" = 1 ]; then
        # shellcheck disable=SC2086
        mf=$(bench_median $floor) ms=$(bench_median $setup) mg=$(bench_median $guide)
        # shellcheck disable=SC2086
        mi=$(bench_median $ipbatch) mc=$(bench_median $cfg) mn=$(bench_median $noop) mv=$(bench_median $vfio)
        echo "BENCH floor_ms=$(bench_ms "$mf") setup_ms=$(bench_ms "$ms") guide_ms=$(bench_ms "$mg") ipbatch_ms=$(bench_ms "$mi") cfg_only_ms=$(bench_ms "$mc") noop_ms=$(bench_ms "$mn") vfio_bind_ms=$(bench_ms "$mv") setup/floor=$(bench_ratio "$ms" "$mf") setup/ipbatch=$(bench_ratio "$ms" "$mi") guide/setup=$(bench_ratio "$mg" "$ms") guide/floor=$(bench_ratio "$mg" "$mf") reps=$BENCH_REPS target=setup/floor<=1.2"
    fi
fi
