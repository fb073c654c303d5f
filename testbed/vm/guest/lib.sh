# shellcheck shell=sh
# Guest-side helpers shared by the scenarios (busybox sh). Each check prints one
# machine-parsable line on the console:  CHECK <name> PASS|FAIL|SKIP <detail>
# and appends it to $TB_RESULTS, from which main prints the final RESULT line.

TB_RESULTS=${TB_RESULTS:-/tmp/tb.results}

# busybox-static's sh prefers its own applets over $PATH: name iproute2's ip
# (the independent reader) explicitly.
ip() { /tb/bin/ip "$@"; }
jq() { /tb/bin/jq -M "$@"; }
PF=${SRIOV_TESTBED_PF:-}
PFDEV=/sys/class/net/$PF/device

_record() { # STATUS NAME DETAIL...
    _st=$1 _n=$2; shift 2
    _d=$(printf '%s' "$*" | tr '\n' ' ' | cut -c1-300)
    echo "CHECK $_n $_st $_d"
    echo "CHECK $_n $_st $_d" >>"$TB_RESULTS"
}
pass() { _n=$1; shift; _record PASS "$_n" "$*"; }
fail() { _n=$1; shift; _record FAIL "$_n" "$*"; }
# skip NAME REASON: a check that could not reach a verdict because QEMU's model
# or the driver lacks the feature; REASON names the limit (source file and
# function). Printed as CHECK NAME SKIP REASON: never counted as passed.
skip() { _n=$1; shift; _record SKIP "$_n" "$*"; }

# check NAME CMD...: PASS when CMD exits 0.
check() {
    _n=$1; shift
    if _o=$("$@" 2>&1); then pass "$_n" "$*"; else fail "$_n" "rc=$? from: $* : $_o"; fi
}

# expect_eq NAME ACTUAL EXPECTED [CONTEXT]
expect_eq() {
    if [ "$2" = "$3" ]; then pass "$1" "= '$3' $4"; else fail "$1" "got '$2', want '$3' $4"; fi
}

# expect_match NAME TEXT REGEX [CONTEXT]   (grep -E)
expect_match() {
    if printf '%s' "$2" | grep -qE -- "$3"; then pass "$1" "matches /$3/ $4"; else
        fail "$1" "'$(printf '%s' "$2" | tr '\n' ' ' | cut -c1-200)' does not match /$3/ $4"; fi
}

# note TEXT: diagnostics in the log, never parsed.
note() { echo "  | $*"; }
indent() { sed 's/^/  | /' | head -n "${1:-60}"; }

# wait_until SECONDS CMD...: poll (10 ms steps) until CMD succeeds.
wait_until() {
    _t=$(( $1 * 100 )); shift
    while [ "$_t" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        usleep 10000
        _t=$((_t - 1))
    done
    return 1
}

# --- independent readers (sysfs and iproute2, never sriov-cli) --------------
numvfs() { cat "$PFDEV/sriov_numvfs"; }
vf_addr() { basename "$(readlink "$PFDEV/virtfn$1")"; }
vf_netdev() { ls "$PFDEV/virtfn$1/net" 2>/dev/null | head -n1; }
vf_driver() { [ -e "$PFDEV/virtfn$1/driver" ] && basename "$(readlink "$PFDEV/virtfn$1/driver")"; }
vf_group() { [ -e "$PFDEV/virtfn$1/iommu_group" ] && basename "$(readlink "$PFDEV/virtfn$1/iommu_group")"; }
count_vf_netdevs() {
    _c=0; _i=0
    while [ -e "$PFDEV/virtfn$_i" ]; do
        [ -n "$(vf_netdev "$_i")" ] && _c=$((_c + 1))
        _i=$((_i + 1))
    done
    echo "$_c"
}
all_vf_netdevs() { [ "$(count_vf_netdevs)" = "$1" ]; }

# vf_info IDX FILTER: jq FILTER applied to VF IDX of the PF in `ip -j -d link show`.
vf_info() { ip -j -d link show dev "$PF" | jq -r ".[0].vfinfo_list[] | select(.vf == $1) | $2"; }
# link_info DEV FILTER
link_info() { ip -j -d link show dev "$1" | jq -r ".[0] | $2"; }

# set_numvfs N: the raw kernel interface (0 first when changing a non-zero count).
set_numvfs() {
    if [ "$(numvfs)" != "$1" ]; then
        [ "$(numvfs)" != 0 ] && [ "$1" != 0 ] && echo 0 >"$PFDEV/sriov_numvfs"
        echo "$1" >"$PFDEV/sriov_numvfs" || return 1
    fi
    [ "$1" = 0 ] || wait_until 20 all_vf_netdevs "$1"
}

# reset_host: the starting point of every scenario: no VFs, no default route, no config.
reset_host() {
    echo 1 >"$PFDEV/sriov_drivers_autoprobe" 2>/dev/null
    [ "$(numvfs)" = 0 ] || echo 0 >"$PFDEV/sriov_numvfs"
    ip route flush default >/dev/null 2>&1
    rm -rf /etc/sriov-cli
    true
}

# pf_up_with_carrier NAME: bring the PF up and wait (5 s at most) for its link,
# as on a Proxmox host where vmbr0/ifupdown has the PF up when setup runs: an
# igbvf probed while the PF is down gets no MAC from it.
pf_up_with_carrier() {
    ip link set "$PF" up
    _i=0
    while [ "$(cat "/sys/class/net/$PF/carrier" 2>/dev/null)" != 1 ] && [ $_i -lt 50 ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
    expect_eq "$1" "$(cat "/sys/class/net/$PF/carrier" 2>&1)" 1 "(the PF's link, before setup)"
}

# json_true FILE FILTER: FILE holds JSON for which FILTER is true (jq 1.6's -e
# accepts empty input, hence the explicit comparison).
json_true() { [ -s "$1" ] && [ "$(jq -r "$2" "$1" 2>/dev/null)" = true ]; }

# require_vfs NAME N: the scenario's precondition (sriov-cli configured N VFs);
# when it does not hold, record a FAIL and let the caller return, so that no
# later check passes vacuously on an unconfigured host.
require_vfs() {
    [ "$(numvfs)" = "$2" ] && return 0
    fail "$1" "precondition: sriov-cli setup did not create $2 VFs (sriov_numvfs=$(numvfs)); the rest of the scenario is not run"
    return 1
}

# --- driving sriov-cli ------------------------------------------------------
# cli ARGS...: run sriov-cli (with a timeout), leaving $CLI_OUT, $CLI_ERR, $CLI_RC.
CLI_OUT=/tmp/cli.out
CLI_ERR=/tmp/cli.err
cli() {
    if [ ! -x /tb/bin/sriov-cli ]; then
        echo "sriov-cli missing from the image" >"$CLI_ERR"; : >"$CLI_OUT"; CLI_RC=127
        return 127
    fi
    timeout 120 /tb/bin/sriov-cli "$@" >"$CLI_OUT" 2>"$CLI_ERR"
    CLI_RC=$?
    note "\$ sriov-cli $* -> exit $CLI_RC"
    indent 40 <"$CLI_OUT"
    sed 's/^/  ! /' "$CLI_ERR" | head -n 40
    return $CLI_RC
}
cli_err_line() { tr '\n' ' ' <"$CLI_ERR" | cut -c1-200; }

# expect_rc NAME WANT: compare $CLI_RC.
expect_rc() { expect_eq "$1" "$CLI_RC" "$2" "(stderr: $(cli_err_line))"; }
# expect_rc_errors NAME WANT: like expect_rc, with stderr's `error:` lines (the
# reason for an exit status) first in the detail, ahead of any warnings.
expect_rc_errors() {
    expect_eq "$1" "$CLI_RC" "$2" "(errors: $(grep '^error:' "$CLI_ERR" | tr '\n' ' ' | cut -c1-220); stderr: $(cli_err_line))"
}
# expect_rc_out NAME WANT: $CLI_RC is WANT and something was printed on stdout.
expect_rc_out() {
    if [ "$CLI_RC" = "$2" ] && [ -s "$CLI_OUT" ]; then pass "$1" "exit $2, $(wc -l <"$CLI_OUT") lines"; else
        fail "$1" "exit $CLI_RC (want $2), $(wc -c <"$CLI_OUT") bytes on stdout; stderr: $(cli_err_line)"; fi
}

# snapshot FILE: everything an invalid run must not change (sysfs + iproute2 view).
snapshot() {
    {
        echo "numvfs $(numvfs)"
        i=0
        while [ -e "$PFDEV/virtfn$i" ]; do
            echo "vf$i $(vf_addr $i) drv=$(vf_driver $i) net=$(vf_netdev $i)"
            i=$((i + 1))
        done
        ip -d link show dev "$PF" | grep -E '^ +vf ' | sed 's/ *$//'
        # Without the carrier (operstate, NO-CARRIER, LOWER_UP, a route's
        # "linkdown"): that is the VF driver's and the switch's, and igbvf only
        # notices "no link" on its first watchdog run, a moment after probing.
        ip -br link | awk '{ f = $4; gsub(/NO-CARRIER,|,LOWER_UP/, "", f); print $1, $3, f }' | sort
        ip -br addr | awk '{ $2 = ""; print }' | sort
        ip route show | sed 's/ linkdown//'
        ls /dev/vfio 2>/dev/null
    } >"$1"
}

# snapshot_fresh FILE: snapshot, with the kernel's own netdev names (ethN)
# made one (two setups from 0 VFs probe the VFs in parallel, so a VF the
# config does not name may get another ethN each time) and without IPv6
# link-local addresses (the kernel adds them a moment after a link gets its
# carrier: whether they are there yet is timing, not setup's work).
snapshot_fresh() {
    snapshot "$1.raw"
    sed -E 's/(^|[^a-z0-9])eth[0-9]+($|[^a-z0-9])/\1ethN\2/g; s/ fe80::[0-9a-f:]*\/64//g; s/ +$//' "$1.raw" | sort >"$1"
}

# fixed_macs_config: writes the guide's layout with a MAC for every VF and the
# PF up (as on a Proxmox host) to /tmp/fixed-macs.toml and prints its path:
# igb gives a VF without a MAC, or whose PF is down, a random one each time it
# is created, which two fresh setups would not share.
fixed_macs_config() {
    awk '{ print } /^num_vfs = 7$/ { print "up = true" } /^index = [0234]$/ { printf "mac = \"02:00:00:02:00:%02d\"\n", $3 }' \
        /tb/guest/configs/guide.toml >/tmp/fixed-macs.toml
    echo /tmp/fixed-macs.toml
}

# --- the nvme PF (sets nvme and bars: a QEMU nvme with SR-IOV, testbed/vm/run) ---
# nvme_pf_or_return PREFIX: loads the nvme module (on demand, /tb/modules/order.nvme),
# finds the nvme PF (class 0x010802 with sriov_totalvfs) and waits (20 s) for
# the nvme driver to bind it; sets NPCI and NDEV. A FAIL and status 1 when not.
nvme_pf_or_return() {
    _mf=""
    if [ -f /tb/modules/order.nvme ]; then
        while read -r _m _; do
            case $_m in '#'*) continue ;; MISSING) _mf="$_mf missing:$_m"; continue ;; esac
            grep -q "^${_m%.ko} " /proc/modules || _o=$(insmod "/tb/modules/$_m" 2>&1) || _mf="$_mf $_m($_o)"
        done </tb/modules/order.nvme
    else
        _mf="no /tb/modules/order.nvme in the image"
    fi
    if [ -n "$_mf" ]; then fail "$1.module" "$_mf"; return 1; fi
    NPCI=""
    for _d in /sys/bus/pci/devices/*; do
        [ "$(cat "$_d/class" 2>/dev/null)" = 0x010802 ] && [ -e "$_d/sriov_totalvfs" ] && { NPCI=$(basename "$_d"); break; }
    done
    if [ -z "$NPCI" ]; then
        fail "$1.pf" "no nvme device (class 0x010802) with sriov_totalvfs: $(grep -l 0x0108 /sys/bus/pci/devices/*/class 2>/dev/null | tr '\n' ' ')"
        return 1
    fi
    NDEV=/sys/bus/pci/devices/$NPCI
    wait_until 20 test "$(nvme_driver)" = nvme
    pass "$1.pf" "$NPCI ($(cat "$NDEV/vendor"):$(cat "$NDEV/device"), driver '$(nvme_driver)', modules $(grep -v '^#' /tb/modules/order.nvme | tr '\n' ' '))"
}
nvme_driver() { [ -e "$NDEV/driver" ] && basename "$(readlink "$NDEV/driver")"; }
nvme_vf_addr() { basename "$(readlink "$NDEV/virtfn$1")"; }
nvme_vf_driver() { [ -e "$NDEV/virtfn$1/driver" ] && basename "$(readlink "$NDEV/virtfn$1/driver")"; }
nvme_vf_group() { [ -e "$NDEV/virtfn$1/iommu_group" ] && basename "$(readlink "$NDEV/virtfn$1/iommu_group")"; }
nvme_require_vfs() {
    [ "$(cat "$NDEV/sriov_numvfs")" = "$2" ] && return 0
    fail "$1" "precondition: setup did not create $2 VFs of $NPCI (sriov_numvfs=$(cat "$NDEV/sriov_numvfs")); the rest of the scenario is not run"
    return 1
}
# nvme_snapshot FILE: the nvme PF's sysfs state and /dev/vfio.
nvme_snapshot() {
    {
        echo "numvfs $(cat "$NDEV/sriov_numvfs") autoprobe $(cat "$NDEV/sriov_drivers_autoprobe") driver $(nvme_driver)"
        _i=0
        while [ -e "$NDEV/virtfn$_i" ]; do
            echo "vf$_i $(nvme_vf_addr $_i) drv=$(nvme_vf_driver $_i) override=$(cat "$NDEV/virtfn$_i/driver_override")"
            _i=$((_i + 1))
        done
        ls /dev/vfio 2>/dev/null
    } >"$1"
}
