# shellcheck shell=bash
# Helpers of the systemd guest's scenario driver (bash; sourced). The same
# conventions as testbed/vm/guest/lib.sh: one line per check on the console,
#   CHECK <name> PASS|FAIL <detail>
# appended to $TB_RESULTS, from which the driver prints this boot's
# "RESULT n passed, m failed". Everything asserted here is read from systemd
# (systemctl show), the journal, iproute2 and sysfs, never from sriov-cli.

TB_RESULTS=${TB_RESULTS:-/run/tb.results}
TB_STATE=/var/lib/tb          # kept on the disk image between the boots of one run
CONFIG=/etc/sriov-cli/sriov.toml
UNIT=sriov-vfs.service

_record() { # STATUS NAME DETAIL...
    local st=$1 n=$2 d
    shift 2
    d=$(printf '%s' "$*" | tr '\n' ' ' | cut -c1-300)
    echo "CHECK $n $st $d"
    echo "CHECK $n $st $d" >>"$TB_RESULTS"
}
pass() { local n=$1; shift; _record PASS "$n" "$*"; }
fail() { local n=$1; shift; _record FAIL "$n" "$*"; }
note() { echo "  | $*"; }
indent() { sed 's/^/  | /' | head -n "${1:-60}"; }

# expect_eq NAME ACTUAL EXPECTED [CONTEXT]
expect_eq() {
    if [ "$2" = "$3" ]; then pass "$1" "= '$3' $4"; else fail "$1" "got '$2', want '$3' $4"; fi
}
# expect_match NAME TEXT REGEX [CONTEXT]
expect_match() {
    if printf '%s' "$2" | grep -qE -- "$3"; then pass "$1" "matches /$3/ $4"; else
        fail "$1" "'$(printf '%s' "$2" | tr '\n' ' ' | cut -c1-200)' does not match /$3/ $4"; fi
}
# check NAME CMD...: PASS when CMD exits 0.
check() {
    local n=$1 o
    shift
    if o=$("$@" 2>&1); then pass "$n" "$*"; else fail "$n" "rc=$? from: $* : $o"; fi
}

# wait_until SECONDS CMD...: poll (50 ms steps) until CMD succeeds.
wait_until() {
    local t=$(($1 * 20))
    shift
    while [ "$t" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
        t=$((t - 1))
    done
    return 1
}

# --- systemd's view -------------------------------------------------------------
prop() { systemctl show -P "$2" "$1" 2>/dev/null; } # UNIT PROPERTY
# unit_state UNIT: "ActiveState/SubState/Result/ExecMainStatus" (one string to compare)
unit_state() {
    local -A u
    local k v
    while IFS='=' read -r k v; do u[$k]=$v; done < <(systemctl show -p ActiveState,SubState,Result,ExecMainStatus "$1" 2>/dev/null)
    echo "${u[ActiveState]}/${u[SubState]}/${u[Result]}/${u[ExecMainStatus]}"
}
mono() { local v; v=$(prop "$1" "$2"); echo "${v:-0}"; } # UNIT PROPERTY -> microseconds (0 = never)
ms() { echo "$(($1 / 1000)).$((($1 / 100) % 10))"; }     # microseconds -> "123.4"
failed_units() { systemctl list-units --failed --plain --no-legend --no-pager 2>/dev/null | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//'; }
unit_journal() { journalctl -b -u "$1" -o cat --no-pager 2>/dev/null; }
# User-space journal messages of priority err or worse in this boot (the
# kernel's own are left out: TCG and the emulated machine make some).
userspace_errors() {
    journalctl -b -p err -o json --no-pager 2>/dev/null |
        jq -r 'select(._TRANSPORT != "kernel") | "\(.SYSLOG_IDENTIFIER // ._COMM // "?"): \(.MESSAGE)"' 2>/dev/null
}

# before_network_pre NAME UNIT: UNIT became active before network-pre.target
# did (systemd's own monotonic timestamps).
before_network_pre() {
    local a n
    a=$(mono "$2" ActiveEnterTimestampMonotonic)
    n=$(mono network-pre.target ActiveEnterTimestampMonotonic)
    if [ "$a" -gt 0 ] && [ "$n" -gt 0 ] && [ "$a" -le "$n" ]; then
        pass "$1" "$2 active at $(ms "$a") ms, network-pre.target at $(ms "$n") ms (monotonic)"
    else
        fail "$1" "$2 ActiveEnterTimestampMonotonic=$a, network-pre.target's=$n: want both set, the unit's first"
    fi
}

# --- sysfs and iproute2 ------------------------------------------------------------
# Under TCG every process costs: iproute2 is read in one dump (ip_dump) and
# queried with one jq program per check group (ipq), sysfs with shell builtins.
pcidev() { echo "/sys/bus/pci/devices/$1"; }
numvfs_pci() { local v; read -r v <"/sys/bus/pci/devices/$1/sriov_numvfs" 2>/dev/null || v="?"; echo "$v"; }
vf_netdev_pci() { local x; for x in "/sys/bus/pci/devices/$1/virtfn$2/net"/*; do [ -e "$x" ] && echo "${x##*/}"; break; done; }
pf_netdev_pci() { local x; for x in "/sys/bus/pci/devices/$1/net"/*; do [ -e "$x" ] && echo "${x##*/}"; break; done; }
vf_driver_pci() { local d=/sys/bus/pci/devices/$1/virtfn$2/driver x; [ -e "$d" ] && x=$(readlink "$d") && echo "${x##*/}"; }
vf_group_pci() { local d=/sys/bus/pci/devices/$1/virtfn$2/iommu_group x; [ -e "$d" ] && x=$(readlink "$d") && echo "${x##*/}"; }

# has_flag NETDEV UP|PROMISC: true/false, from sysfs's flags (IFF_UP 0x1, IFF_PROMISC 0x100).
has_flag() {
    local f
    read -r f <"/sys/class/net/$1/flags" 2>/dev/null || { echo missing; return; }
    case $2 in UP) (( f & 0x1 )) ;; PROMISC) (( f & 0x100 )) ;; *) false ;; esac && echo true || echo false
}

# ip_dump: links (with their VF lists), addresses and default routes, once.
ip_dump() {
    ip -j -d link show >/run/tb.links.json
    ip -j addr show >/run/tb.addrs.json
    ip -j route show default >/run/tb.routes.json
}
JQDEFS='
def link(n): first($L[0][] | select(.ifname == n)) // {};
def vf(p; i): first((link(p).vfinfo_list // [])[] | select(.vf == i)) // {};
def vq(p; i): "\(vf(p; i).vlan_list[0].vlan // 0)/\(vf(p; i).vlan_list[0].qos // 0)";
def flag(n; f): (link(n).flags // []) | any(.[]; . == f);
def inet(n): [(first($A[0][] | select(.ifname == n)) // {}) | (.addr_info // [])[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"] | join(",");
def defroute: [$R[0][] | "\(.gateway) \(.dev)"] | join(" ");
'
# ipq [jq options] PROGRAM: PROGRAM over the last ip_dump ($L, $A, $R and the defs above).
ipq() {
    local prog=${!#}
    jq -r -n --slurpfile L /run/tb.links.json --slurpfile A /run/tb.addrs.json --slurpfile R /run/tb.routes.json \
        "${@:1:$#-1}" "$JQDEFS $prog"
}

# layout_snapshot PCI MACVFS: the state a boot must reproduce (sysfs + iproute2),
# without what changes from boot to boot by itself (ifindexes, the random MACs
# igb gives VFs without one: MACVFS lists the VFs whose MAC the config sets).
layout_snapshot() {
    local pci=$1 macvfs=$2 pf i n vfs=""
    pf=$(pf_netdev_pci "$pci")
    ip_dump
    echo "pf $pci $pf numvfs $(numvfs_pci "$pci")"
    i=0
    while [ -e "/sys/bus/pci/devices/$pci/virtfn$i" ]; do
        n=$(vf_netdev_pci "$pci" $i)
        echo "vf $i drv=$(vf_driver_pci "$pci" $i) net=${n:--}"
        vfs="$vfs $i:${n:--}"
        i=$((i + 1))
    done
    ipq --arg pf "$pf" --arg vfs "${vfs# }" --arg macs "$macvfs" '
        "pf up=\(flag($pf; "UP"))",
        ($vfs | split(" ")[] | split(":") | . as [$i, $n] | ($i | tonumber) as $x |
            "vf \($i) pf-side: vlan/qos=\(vq($pf; $x)) trust=\(vf($pf; $x).trust) spoofchk=\(vf($pf; $x).spoofchk)"
            + " mac=\(if ($macs | split(" ") | any(.[]; . == $i)) then vf($pf; $x).address else "-" end)"
            + (if $n == "-" or $n == "" then "" else
                " link: up=\(flag($n; "UP")) promisc=\(flag($n; "PROMISC")) mtu=\(link($n).mtu) inet=\(inet($n))" end)),
        "default route: \(defroute)"'
}

# host_snapshot PCI...: everything a package upgrade or removal must not change,
# within one boot (ifindexes and every MAC included).
host_snapshot() {
    local pci i x
    for pci in "$@"; do
        echo "pf $pci numvfs $(numvfs_pci "$pci")"
        i=0
        while [ -e "/sys/bus/pci/devices/$pci/virtfn$i" ]; do
            x=$(readlink "/sys/bus/pci/devices/$pci/virtfn$i")
            echo "vf $pci/$i ${x##*/} drv=$(vf_driver_pci "$pci" $i) net=$(vf_netdev_pci "$pci" $i)"
            i=$((i + 1))
        done
    done
    ip -d link show | grep -E '^ +vf ' | sed 's/ *$//'
    ip -o link | awk '{ f = $3; gsub(/NO-CARRIER,|,LOWER_UP|LOWER_UP,?/, "", f); print $1, $2, f, $5 }' | sort
    ip -br addr | awk '{ $2 = ""; print }' | sort
    ip route show | sed 's/ linkdown//'
    ls /dev/vfio 2>/dev/null
}

# now_us: CLOCK_MONOTONIC in microseconds (the clock of systemd's *Monotonic timestamps).
now_us() { awk '{ printf "%d\n", $1 * 1000000 }' /proc/uptime; }
