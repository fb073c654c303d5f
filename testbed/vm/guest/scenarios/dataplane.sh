# shellcheck shell=sh
# The data plane, read on the wire. This boot has a second NIC, an e1000e on
# the igb's own QEMU hub: the switch port, in its own network namespace, in
# promiscuous mode (no VLAN filtering) with VLAN subinterfaces. tcpdump there
# reads what leaves the VFs; what the observer sends is read at the VFs. The
# VFs sit where guests have them: VF 4 in a "container" (a process's network
# namespace, as LXC's phys type moves it, read through /proc/PID/ns/net), VF 5
# in a "VM" namespace, the host's own VFs (0-3) in the host's namespace.
# `sriov-cli setup` of the guide's layout (configs/dataplane.toml) does the
# configuration; every verdict comes from tcpdump, ip -s and sysfs.
# A check QEMU's igb model or the igb driver cannot honour is printed as SKIP
# with the limit named (file and function); see testbed/README.md.
#
# Two guests source it: the initramfs guest (busybox, testbed/vm/guest/main),
# where this scenario runs the setup itself, and the systemd guest
# (testbed/vm/systemd/guest/driver, phase dataplane), where the package's
# sriov-vfs.service did it at boot from the same config: DP_AT_BOOT=1, and
# dp_boot_setup (the driver's) checks that unit instead. TB_GUEST is where
# wire.sh and configs/ are.
TB_GUEST=${TB_GUEST:-/tb/guest}
. "$TB_GUEST/wire.sh"
CFG=$TB_GUEST/configs/dataplane.toml
OBSMAC=52:54:00:0d:a7:a1      # testbed/vm/run gives the observer this MAC
VF1MAC=02:00:00:01:00:50
FORGED4=02:de:ad:00:00:04 FORGED5=02:de:ad:00:00:05
MV0MAC=02:00:00:00:0a:01 MV1MAC=02:00:00:00:0a:02 STRANGER=02:00:00:00:0a:09
HOSTVFS="eth0pve0 eth0pve050 eth0pve060 eth0pve070 eth1lxc9999v050"
CT_PID="" DP_T0=$(cut -d' ' -f1 /proc/uptime)

# ping_rr NS IP: 3 echo requests, each sent once the last was answered; prints
# how many were answered.
ping_rr() { in_ns "$1" ping -c 3 -A -W 2 -w 6 "$2" 2>&1 | grep -c "bytes from $2"; }
# obs_tx "DEV IP MAC" ...: from the observer, 3 echo requests 0.1 s apart to
# each IP, which will not answer: a static neighbour entry on DEV picks the
# destination MAC (one shell in the namespace for all, the pings at once).
obs_tx() {
    : >/tmp/obs_tx.ping
    for w in "$@"; do
        set -- $w
        echo "$IPROUTE neigh replace $2 lladdr $3 dev $1 nud permanent"
        echo "ping -c 3 -i 0.1 -W 1 -w 2 $2 >/dev/null 2>&1 &" >>/tmp/obs_tx.ping
    done >/tmp/obs_tx.sh
    { cat /tmp/obs_tx.ping; echo wait; } >>/tmp/obs_tx.sh
    in_ns obs sh /tmp/obs_tx.sh
}
phase() { note "phase $1 at $(cut -d' ' -f1 /proc/uptime) s"; }

# Quick: the VFs go first (wherever their netdevs are), then the namespaces.
dp_cleanup() {
    for dp_c in obs vf1 vf0; do
        [ -f "/tmp/cap.$dp_c.pid" ] && kill -9 "$(cat "/tmp/cap.$dp_c.pid")" 2>/dev/null
        rm -f "/tmp/cap.$dp_c.pid"
    done
    [ -n "$CT_PID" ] && kill "$CT_PID" 2>/dev/null
    echo 0 >"$PFDEV/sriov_numvfs"
    for dp_n in obs vm5 lxc9999; do ip netns del "$dp_n" >/dev/null 2>&1; done
    echo 0 >/proc/sys/net/ipv6/conf/default/disable_ipv6
    echo 0 >/proc/sys/net/ipv6/conf/all/disable_ipv6
    ip link set "$PF" down
}

# --- the tools and the observer -------------------------------------------
modfail=""
for m in e1000e 8021q pktgen macvlan; do
    if [ ! -f "/tb/modules/order.$m" ]; then
        # the systemd guest: the image has the modules, kmod finds them
        if [ "${DP_AT_BOOT:-}" = 1 ]; then out=$(modprobe "$m" 2>&1) || modfail="$modfail $m($out)"; else
            modfail="$modfail no-order.$m"; fi
        continue
    fi
    while read -r f rest; do
        case $f in '#'*|'') continue ;; MISSING) modfail="$modfail $rest(missing)"; continue ;; esac
        grep -q "^${f%.ko} " /proc/modules || out=$(insmod "/tb/modules/$f" 2>&1) || modfail="$modfail $f($out)"
    done <"/tb/modules/order.$m"
done
obs_dev() {
    for d in /sys/class/net/*; do
        [ "$(basename "$(readlink "$d/device/driver" 2>/dev/null)")" = e1000e ] && { basename "$d"; return 0; }
    done
    return 1
}
wait_secs 15 obs_dev
OBS=$(obs_dev)
if [ -n "$modfail" ] || [ ! -x "$TCPDUMP" ] || [ -z "$OBS" ]; then
    fail dataplane.tools "modules:${modfail:- ok}; tcpdump: $([ -x "$TCPDUMP" ] && echo ok || echo missing); observer NIC: ${OBS:-none (is this boot from testbed/vm/run --sets dataplane?)}"
    return 0
fi
pass dataplane.tools "tcpdump $("$TCPDUMP" --version 2>&1 | head -n1 | cut -d' ' -f3), modules e1000e 8021q pktgen macvlan, observer $OBS ($(cat "/sys/class/net/$OBS/address"))"

# No IPv6: its router solicitations and MLD reports would be traffic nobody
# sent on purpose, and the counter checks compare exact numbers.
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6
mkns() {
    ip netns add "$1" &&
        in_ns "$1" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; ip link set lo up'
}
mkns obs && mkns vm5 || { fail dataplane.netns "ip netns add failed"; dp_cleanup; return 0; }
# The container: a process in its own network namespace ("its init"), named
# for ip(8) with `ip netns attach`; its VF is read through /proc/PID/ns/net.
unshare -n sleep 100000 &
CT_PID=$!
ct_unshared() { [ "$(readlink "/proc/$CT_PID/ns/net")" != "$(readlink /proc/self/ns/net)" ]; }
wait_secs 5 ct_unshared
ip netns attach lxc9999 "$CT_PID" &&
    in_ns lxc9999 sh -c 'echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; ip link set lo up' ||
    { fail dataplane.netns "container namespace (pid $CT_PID) not attached"; dp_cleanup; return 0; }
# (busybox's nsenter runs its own applets first: name iproute2's ip in full; and
# /sys stays the host's view, so links are read with ip, not sysfs)
ct() { nsenter --net="/proc/$CT_PID/ns/net" "$@"; }

ip link set "$OBS" netns obs
in_ns obs $IPROUTE -batch - <<EOF
link set $OBS promisc on up
link add link $OBS name obs.50 type vlan id 50
address add 10.0.50.1/24 dev obs.50
link add link $OBS name obs.60 type vlan id 60
address add 10.2.60.1/24 dev obs.60
link add link $OBS name obs.70 type vlan id 70
address add 10.2.70.1/24 dev obs.70
link add link $OBS name obs.80 type vlan id 80
address add 10.8.80.1/24 dev obs.80
address add 10.9.0.1/24 dev $OBS
link set obs.50 up
link set obs.60 up
link set obs.70 up
link set obs.80 up
EOF
obs_carrier() { [ "$(in_ns obs cat "/sys/class/net/$OBS/carrier" 2>/dev/null)" = 1 ]; }
if wait_secs 10 obs_carrier; then
    pass dataplane.observer "$OBS in netns obs: promisc, carrier, VLANs 50 60 70 80 and untagged 10.9.0.1/24"
else
    fail dataplane.observer "$OBS: no carrier / setup failed: $(in_ns obs ip -br link 2>&1 | tr '\n' ' ')"
    dp_cleanup; return 0
fi
cap_start obs obs "$OBS" || { fail dataplane.capture "tcpdump on the observer did not start"; dp_cleanup; return 0; }

phase setup
# --- setup order: the VFs setup brought up have carrier with the PF up ------
if [ "${DP_AT_BOOT:-}" = 1 ]; then
    # set up at boot (this boot's kernel log has only that setup's VFs)
    dp_boot_setup dataplane.setup_exit
else
    ip link set "$PF" down
    dmesg -c >/dev/null
    cli setup --config "$CFG" --json --timings
    expect_rc dataplane.setup_exit 0
fi
require_vfs dataplane.setup_numvfs 7 || { dp_cleanup; return 0; }
carriers() {
    dp_all=1 dp_s=""
    for n in $HOSTVFS; do
        dp_c=$(cat "/sys/class/net/$n/carrier" 2>/dev/null || echo "?")
        dp_s="$dp_s $n:$dp_c"; [ "$dp_c" = 1 ] || dp_all=0
    done
    echo "$dp_s"; [ "$dp_all" = 1 ]
}
# At once (5 s: igbvf's watchdog looks at the link when the netdev goes up),
# and no VF probed while its PF was still resetting: such a VF ("PF still in
# reset state", a random MAC instead of the PF's) gets its link only when
# igbvf's reset task retries, 10 s or more later.
t0=$(cut -d' ' -f1 /proc/uptime)
dp_when="5 s after setup"
[ "${DP_AT_BOOT:-}" = 1 ] && dp_when="after the boot's setup (sriov-vfs.service), within 5 s"
wait_secs 5 carriers
got=$(carriers) inreset=$(dmesg | grep -c 'PF still in reset state')
note "carrier $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }') s after setup:$got; PF $PF carrier $(cat /sys/class/net/$PF/carrier)"
dmesg | grep -iE 'igbvf|igb .*(VF|reset)|Link is' | grep -v 'invalid MAC filter' | tail -n 40 | indent 40
expect_eq dataplane.setup_vf_carrier "$(echo $got) in-reset:$inreset" "eth0pve0:1 eth0pve050:1 eth0pve060:1 eth0pve070:1 eth1lxc9999v050:1 in-reset:0" \
    "(sysfs carrier of the VF netdevs setup brought up, PF up, $dp_when; igbvf 'PF still in reset state' messages; $(dmesg | grep -c 'Link is Up') x 'Link is Up')"
if ! carriers >/dev/null; then
    # so that the wire checks still run: igbvf's own retry
    wait_secs 20 carriers
    note "carrier $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }') s after setup:$(carriers)"
fi

phase guests
# --- the VFs where the guests have them -------------------------------------
VF4MAC=$(vf_info 4 .address) VF5MAC=$(vf_info 5 .address) VF0MAC=$(cat /sys/class/net/eth0pve0/address)
ip link set eth1lxc9999v050 netns "$CT_PID"
ct $IPROUTE link set eth1lxc9999v050 up
ct $IPROUTE addr add 10.0.50.104/24 dev eth1lxc9999v050
ip link set eth0vm5v070 netns vm5
in_ns vm5 sh -c 'ip link set eth0vm5v070 up && ip addr add 10.2.70.105/24 dev eth0vm5v070'
guest_carrier() { [ "$(ct_lower_up)$(in_ns vm5 cat /sys/class/net/eth0vm5v070/carrier 2>/dev/null)" = true1 ]; }
ct_lower_up() { ct $IPROUTE -j link show dev eth1lxc9999v050 | jq -r '.[0].flags | index("LOWER_UP") != null'; }
wait_secs 12 guest_carrier
expect_eq dataplane.guest_vf_carrier "ct:$(ct_lower_up) vm5:$(in_ns vm5 cat /sys/class/net/eth0vm5v070/carrier 2>&1)" "ct:true vm5:1" \
    "(VF 4 in the container's namespace, VF 5 (not up after setup) brought up in the VM's namespace)"

phase vlan
# --- VLAN and MAC: VF 1 (vlan 50, qos 3, MAC set), host namespace -----------
cap_start vf1 - eth0pve050 -P
ping1=$(ping_rr - 10.0.50.1)
# frames VF 1 tags itself with VID 60 (the tag in the frame: pktgen's vlan_id)
pg1=$(pktgen_send - eth0pve050 count=5 delay=20000000 pkt_size=100 dst_mac="$OBSMAC" dst=10.0.50.1 \
    src_min=10.0.50.100 src_max=10.0.50.100 udp_dst_min=4001 udp_dst_max=4001 vlan_id=60 vlan_p=0)
note "pktgen VF 1, own tag 60: $pg1"
# the VF's own VLAN interface for VID 60 (the tag in the descriptor; the PF
# refuses the VF a VLAN filter beside its port VLAN, igbvf creates it anyway)
if ip link add link eth0pve050 name eth0pve050.60 type vlan id 60 && ip addr add 10.2.60.151/24 dev eth0pve050.60 &&
    ip link set eth0pve050.60 up; then
    ping -c 3 -i 0.1 -W 1 -w 2 -I eth0pve050.60 10.2.60.1 >/dev/null 2>&1 &
    self60_pid=$!
    self60="created"
else
    self60="refused" self60_pid=""
fi
note "ip link add eth0pve050.60: $self60; igb: $(dmesg | grep -i 'VF 1 attempted to override administratively set VLAN' | tail -n1)"
# a second unicast MAC on VF 1 (untrusted, MAC set by the PF): macvlan asks
# the PF for a MAC filter
ip link add link eth0pve050 name mv1 address "$MV1MAC" type macvlan mode bridge && ip link set mv1 up
# frames the observer sends to VF 1's MAC on VLAN 60 and untagged, and to the
# macvlan's MAC on VLAN 50
obs_tx "obs.60 10.2.60.150 $VF1MAC" "$OBS 10.9.0.150 $VF1MAC" "obs.50 10.0.50.202 $MV1MAC"
[ -n "$self60_pid" ] && wait "$self60_pid"
ip link del eth0pve050.60 >/dev/null 2>&1
cap_stop vf1
cap_dump obs
req1="^$VF1MAC > $OBSMAC, ethertype 802.1Q \(0x8100\), length [0-9]+: vlan 50, p 3, ethertype IPv4 \(0x0800\), 10\.0\.50\.100 > 10\.0\.50\.1: ICMP echo request"
all1=" 10\.0\.50\.100 > 10\.0\.50\.1: ICMP echo request"
n_req=$(cap_count obs "$req1") n_all=$(cap_count obs "$all1")
if [ "$ping1" -ge 3 ] && [ "$n_req" -ge 3 ] && [ "$n_req" = "$n_all" ]; then
    pass dataplane.vlan_tx_tagged "VF 1's untagged pings left tagged: $n_req/$n_all echo requests 'vlan 50, p 3' from $VF1MAC (observer's tcpdump), $ping1/3 answered"
else
    fail dataplane.vlan_tx_tagged "$n_req of $n_all echo requests from 10.0.50.100 seen as vlan 50, p 3 from $VF1MAC; $ping1/3 answered; seen: $(cap_lines obs | grep -E "$all1" | head -n 2)"
fi
n_src=$(cap_lines obs | grep -E "$all1" | grep -vc "^$VF1MAC ")
if [ "$n_all" -ge 3 ] && [ "$n_src" = 0 ]; then
    pass dataplane.mac_configured "all $n_all echo requests from VF 1 carry its mac = $VF1MAC as source on the wire"
else
    fail dataplane.mac_configured "$n_src of $n_all echo requests from VF 1 with another source MAC than $VF1MAC"
fi
n_rep=$(cap_count vf1 "10\.0\.50\.1 > 10\.0\.50\.100: ICMP echo reply")
n_rep_obs=$(cap_count obs "^$OBSMAC > $VF1MAC, ethertype 802\.1Q \(0x8100\), length [0-9]+: vlan 50,.* 10\.0\.50\.1 > 10\.0\.50\.100: ICMP echo reply")
if [ "$n_rep" -ge 3 ] && [ "$n_rep_obs" -ge 3 ]; then
    pass dataplane.vlan_rx_50 "frames the observer sent tagged 50 ($n_rep_obs echo replies) reached VF 1 ($n_rep in tcpdump on eth0pve050, tag stripped)"
else
    fail dataplane.vlan_rx_50 "observer sent $n_rep_obs replies tagged 50, VF 1 saw $n_rep"
fi
s60=$(cap_count obs "vlan 60, .*> 10\.2\.60\.150: ICMP echo request") r60=$(cap_count vf1 "> 10\.2\.60\.150")
if [ "$s60" -ge 3 ] && [ "$r60" = 0 ]; then
    pass dataplane.vlan_rx_60_dropped "observer sent $s60 frames tagged 60 to VF 1's MAC; VF 1 saw 0"
else
    fail dataplane.vlan_rx_60_dropped "observer sent $s60 frames tagged 60 to $VF1MAC; VF 1 saw $r60"
fi
su=$(cap_count obs "^$OBSMAC > $VF1MAC, ethertype IPv4 .*> 10\.9\.0\.150: ICMP echo request") ru=$(cap_count vf1 "> 10\.9\.0\.150")
if [ "$su" -ge 3 ] && [ "$ru" = 0 ]; then
    pass dataplane.vlan_rx_untagged_dropped "observer sent $su untagged frames to VF 1's MAC; VF 1 saw 0"
else
    fail dataplane.vlan_rx_untagged_dropped "observer sent $su untagged frames to $VF1MAC; VF 1 saw $ru"
fi
# outer tag 60 from VF 1: in-frame (pktgen, UDP port 4001) or from its VLAN
# interface (ARP for 10.2.60.1 from 10.2.60.151)
o60=$(cap_count obs "length [0-9]+: vlan 60, .*(\.4001: UDP|tell 10\.2\.60\.151)")
i60=$(cap_count obs "length [0-9]+: vlan 50, p [0-9], ethertype 802\.1Q \(0x8100\), vlan 60, .*\.4001: UDP")
d60=$(cap_count obs "length [0-9]+: vlan 50, p [0-9], ethertype ARP.*tell 10\.2\.60\.151")
if [ "$o60" = 0 ] && [ "$((i60 + d60))" -ge 1 ]; then
    pass dataplane.vlan_tx_own_tag_60 "frames VF 1 tagged 60 itself: 0 left as VLAN 60; in-frame tag (pktgen): $i60/5 left as VLAN 50 with the VF's tag inside; its VLAN interface .60 ($self60): $d60 ARP requests left as VLAN 50, tag 60 replaced"
elif [ "$o60" = 0 ]; then
    pass dataplane.vlan_tx_own_tag_60 "frames VF 1 tagged 60 itself: none on the wire (dropped); VLAN interface .60: $self60"
else
    fail dataplane.vlan_tx_own_tag_60 "$o60 frames left VF 1 as VLAN 60 (pktgen: $pg1; VLAN interface .60: $self60)"
fi
smv1=$(cap_count obs "> $MV1MAC, .*vlan 50, .*> 10\.0\.50\.202: ICMP echo request") rmv1=$(cap_count vf1 "> 10\.0\.50\.202")
denied=$(dmesg | grep -c 'VF 1 requested MAC filter but is administratively denied')
if [ "$smv1" -ge 3 ] && [ "$rmv1" = 0 ]; then
    pass dataplane.untrusted_other_mac "VF 1 (untrusted, MAC set by the PF): $smv1 frames for its macvlan's $MV1MAC, 0 received; igb: 'administratively denied' x $denied"
else
    fail dataplane.untrusted_other_mac "observer sent $smv1 frames to $MV1MAC on VLAN 50; VF 1 saw $rmv1 (igb denial logged $denied times)"
fi
ip link del mv1 >/dev/null 2>&1

phase spoof
# --- MAC = "auto" and spoof checking: VF 5 (VM), VF 4 (container) ----------
ping5=$(ping_rr vm5 10.2.70.1)
pg4a=$(pktgen_send "lxc9999" eth1lxc9999v050 count=5 delay=20000000 pkt_size=100 dst_mac="$OBSMAC" dst=10.0.50.1 \
    src_min=10.0.50.104 src_max=10.0.50.104 udp_dst_min=4004 udp_dst_max=4004)
pg4b=$(pktgen_send "lxc9999" eth1lxc9999v050 count=5 delay=20000000 pkt_size=100 dst_mac="$OBSMAC" src_mac="$FORGED4" dst=10.0.50.1 \
    src_min=10.0.50.104 src_max=10.0.50.104 udp_dst_min=4014 udp_dst_max=4014)
pg5=$(pktgen_send vm5 eth0vm5v070 count=5 delay=20000000 pkt_size=100 dst_mac="$OBSMAC" src_mac="$FORGED5" dst=10.2.70.1 \
    src_min=10.2.70.105 src_max=10.2.70.105 udp_dst_min=4015 udp_dst_max=4015)
note "pktgen VF 4 own MAC: $pg4a"; note "pktgen VF 4 forged: $pg4b"; note "pktgen VF 5 forged: $pg5"
sleep 1
cap_dump obs
n5=$(cap_count obs "^$VF5MAC > $OBSMAC, .*vlan 70, p 5, .*10\.2\.70\.105 > 10\.2\.70\.1: ICMP echo request")
n5all=$(cap_count obs " 10\.2\.70\.105 > 10\.2\.70\.1: ICMP echo request")
if echo "$VF5MAC" | grep -qE '^[0-9a-f][26ae]:[0-9a-f]{2}:[0-9a-f]{2}:01:00:70$' && [ "$n5" -ge 3 ] && [ "$n5" = "$n5all" ]; then
    pass dataplane.mac_auto "VF 5 (mac = auto: $VF5MAC): $n5/$n5all echo requests from that MAC, vlan 70, p 5; $ping5/3 answered"
else
    fail dataplane.mac_auto "VF 5 MAC '$VF5MAC': $n5 of $n5all echo requests from it as vlan 70 p 5; $ping5/3 answered; seen: $(cap_lines obs | grep -E '10\.2\.70\.105 >' | head -n1)"
fi
own4=$(cap_count obs "^$VF4MAC > $OBSMAC, .*vlan 50, .*\.4004: UDP")
forged4=$(cap_count obs "^$FORGED4 > $OBSMAC, .*\.4014: UDP")
forged5=$(cap_count obs "^$FORGED5 > $OBSMAC, .*vlan 70, p 5, .*\.4015: UDP")
expect_eq dataplane.spoofchk_on_own_mac "$own4" 5 "(VF 4, spoofchk on: frames with its own MAC $VF4MAC on the wire, vlan 50)"
if [ "$own4" = 5 ] && [ "$forged4" = 0 ]; then
    pass dataplane.spoofchk_on_forged_dropped "VF 4: 5 frames with source $FORGED4 sent, 0 on the wire"
elif [ "$own4" = 5 ] && [ "$forged4" = 5 ]; then
    skip dataplane.spoofchk_on_forged_dropped "QEMU igb has no TX anti-spoofing: hw/net/igb_core.c igb_process_tx_desc/igb_tx_pkt_send never read DTXSWC's MAC/VLAN spoof bits, which igb_ndo_set_vf_spoofchk sets; all 5 frames with source $FORGED4 reached the wire from VF 4 (spoofchk on)"
else
    fail dataplane.spoofchk_on_forged_dropped "own-MAC frames on the wire $own4/5, forged $forged4/5"
fi
expect_eq dataplane.spoofchk_off_forged_passes "$forged5" 5 "(VF 5, spoofchk off: frames with source $FORGED5 on the wire, vlan 70, p 5)"

phase trunk
# --- the trunk: VF 0 (promisc, trust, no VLAN) ------------------------------
# VLANs it joined (the guide's vmbr0 bridge-vids 50 60 70: VLAN interfaces
# register the VLAN filters with the PF), and a second MAC (a VM behind the
# bridge: a macvlan asks the PF for a MAC filter).
ip -batch - <<EOF
link add link eth0pve0 name eth0pve0.50 type vlan id 50
link add link eth0pve0 name eth0pve0.60 type vlan id 60
link add link eth0pve0 name eth0pve0.70 type vlan id 70
link add link eth0pve0 name mv0 address $MV0MAC type macvlan mode bridge
link set eth0pve0.50 up
link set eth0pve0.60 up
link set eth0pve0.70 up
link set mv0 up
EOF
cap_start vf0 - eth0pve0 -P
obs_tx "obs.50 10.0.50.200 $VF0MAC" "obs.60 10.2.60.200 $VF0MAC" "obs.70 10.2.70.200 $VF0MAC" "obs.80 10.8.80.200 $VF0MAC" \
    "$OBS 10.9.0.201 $MV0MAC" "$OBS 10.9.0.209 $STRANGER"
cap_stop vf0
cap_dump obs
got="" want=""
for p in 50:10.0.50.200 60:10.2.60.200 70:10.2.70.200; do
    s=$(cap_count obs "vlan ${p%%:*}, .*> ${p#*:}: ICMP echo request") r=$(cap_count vf0 "vlan ${p%%:*}, .*> ${p#*:}: ICMP echo request")
    got="$got ${p%%:*}:$([ "$s" -ge 2 ] && [ "$r" = "$s" ] && echo ok || echo "sent$s/got$r")"; want="$want ${p%%:*}:ok"
done
expect_eq dataplane.trunk_vlans "$(echo $got)" "$(echo $want)" "(frames tagged 50, 60, 70 to VF 0 arrive at VF 0 with their tag: tcpdump on eth0pve0)"
s80=$(cap_count obs "vlan 80, .*> 10\.8\.80\.200: ICMP") r80=$(cap_count vf0 "10\.8\.80\.200")
expect_eq dataplane.trunk_unjoined_vlan "sent:$([ "$s80" -ge 2 ] && echo yes) got:$r80" "sent:yes got:0" "(VLAN 80, not joined: the PF's VLAN filter (VLVF) keeps it from VF 0)"
smv=$(cap_count obs "> $MV0MAC, ethertype IPv4 .*> 10\.9\.0\.201: ICMP") rmv=$(cap_count vf0 "> 10\.9\.0\.201: ICMP")
if [ "$smv" -ge 2 ] && [ "$rmv" = "$smv" ]; then
    pass dataplane.trunk_other_mac "VF 0 (trusted): $rmv/$smv frames for a second MAC ($MV0MAC, its macvlan: a MAC filter granted by the PF) received"
else
    fail dataplane.trunk_other_mac "observer sent $smv frames to $MV0MAC, VF 0 saw $rmv; igb: $(dmesg | grep -E 'VF 0 .*MAC filter' | tail -n1)"
fi
sst=$(cap_count obs "> $STRANGER, ethertype IPv4 .*> 10\.9\.0\.209: ICMP") rst=$(cap_count vf0 "> 10\.9\.0\.209: ICMP")
if [ "$sst" -ge 2 ] && [ "$rst" = "$sst" ]; then
    pass dataplane.trunk_promisc_unknown_mac "VF 0 (promisc) received $rst/$sst frames for an unknown MAC $STRANGER"
elif [ "$sst" -ge 2 ] && [ "$rst" = 0 ]; then
    skip dataplane.trunk_promisc_unknown_mac "no unicast promiscuous mode for igb VFs: igbvf never asks for it (drivers/net/ethernet/intel/igbvf/netdev.c igbvf_set_rx_mode sends only multicast and unicast filter lists), drivers/net/ethernet/intel/igb/igb_main.c igb_set_vf_promisc grants only multicast (VMOLR.MPME), and QEMU's hw/net/igb_core.c igb_receive_assign has no VMOLR.ROPE either: $sst frames for $STRANGER, 0 at VF 0"
else
    fail dataplane.trunk_promisc_unknown_mac "observer sent $sst frames to $STRANGER, VF 0 saw $rst"
fi
printf 'link del %s\n' eth0pve0.50 eth0pve0.60 eth0pve0.70 mv0 | ip -force -batch - >/dev/null 2>&1

phase stats
# --- counters: VF 4, after traffic both ways ------------------------------
# Sources: the VF's own netdev, read in the container's namespace through its
# init's /proc/PID/ns/net (ip -s); the PF's IFLA_VF_STATS (ip -s link show PF);
# sriov-cli stats; against the wire: tcpdump at the observer for what VF 4
# sent, the observer NIC's own tx counter for what it sent VF 4 (pktgen's
# frames bypass the capture tap of the NIC that sends them). pktgen's frames
# go to addresses nobody holds: no ICMP errors, no ARP, exact counts.
ctstat() { ct $IPROUTE -s -j link show eth1lxc9999v050 | jq -r ".[0].stats64.$1.packets"; }
pfstat() { ip -s -j link show "$PF" | jq -r ".[0].vfinfo_list[] | select(.vf == 4) | (.stats.$1.packets // .stats.$1.$1_packets // \"none\")"; }
obstx() { in_ns obs $IPROUTE -s -j link show "$OBS" | jq -r '.[0].stats64.tx.packets'; }
tx0=$(ctstat tx) rx0=$(ctstat rx) ptx0=$(pfstat tx) prx0=$(pfstat rx) otx0=$(obstx)
pgs=$(pktgen_send lxc9999 eth1lxc9999v050 count=20 delay=5000000 pkt_size=100 dst_mac="$OBSMAC" dst=10.0.50.251 \
    src_min=10.0.50.104 src_max=10.0.50.104 udp_dst_min=4020 udp_dst_max=4020)
pgr=$(pktgen_send obs "$OBS" count=10 delay=5000000 pkt_size=100 dst_mac="$VF4MAC" dst=10.0.50.250 \
    src_min=10.0.50.1 src_max=10.0.50.1 udp_dst_min=4021 udp_dst_max=4021 vlan_id=50)
note "pktgen VF 4 -> observer: $pgs"; note "pktgen observer -> VF 4: $pgr"
cap_dump obs
tx1=$(ctstat tx) rx1=$(ctstat rx) ptx1=$(pfstat tx) prx1=$(pfstat rx) otx1=$(obstx)
wtx=$(cap_count obs "^$VF4MAC > $OBSMAC, .*vlan 50, .*\.4020: UDP") orx=$((otx1 - otx0))
expect_eq dataplane.stats_vf_netdev "tx+$((tx1 - tx0)) rx+$((rx1 - rx0)) (wire: $wtx from VF 4, $orx from the observer)" "tx+20 rx+10 (wire: 20 from VF 4, 10 from the observer)" \
    "(VF 4's netdev in the container: ip -s through /proc/$CT_PID/ns/net; wire: tcpdump at the observer, the observer's tx counter)"
if [ "$ptx0" = none ] || [ "$ptx1" = none ]; then
    fail dataplane.stats_pf_vf_stats "no IFLA_VF_STATS for VF 4 in ip -s link show $PF"
elif [ "$((ptx1 - ptx0)) $((prx1 - prx0))" = "$wtx $orx" ]; then
    pass dataplane.stats_pf_vf_stats "IFLA_VF_STATS of VF 4: tx+$((ptx1 - ptx0)) rx+$((prx1 - prx0)), as on the wire"
elif [ "$ptx1 $prx1" = "0 0" ]; then
    skip dataplane.stats_pf_vf_stats "igb keeps no per-VF counters for the PF: its net_device_ops (drivers/net/ethernet/intel/igb/igb_main.c igb_netdev_ops) have no ndo_get_vf_stats, and net/core/rtnetlink.c rtnl_fill_vfinfo sends IFLA_VF_STATS zeroed anyway: ip -s link show $PF reads tx 0 rx 0 for VF 4 after $wtx frames out and $orx in (its netdev counted tx $tx1 rx $rx1)"
else
    fail dataplane.stats_pf_vf_stats "IFLA_VF_STATS of VF 4: tx $ptx0 -> $ptx1, rx $prx0 -> $prx1; wire: $wtx out, $orx in"
fi
# VF 1's netdev stays in this namespace: with igb keeping no per-VF
# counters, stats gives its netdev's own (source="netdev"), which iproute2
# read just before and just after (counters only grow).
# VF 4's netdev is in the container's namespace, VF 5's in vm5: stats reads
# them there (source="netns", the namespace in the netns label), which
# iproute2 read inside each just before and just after. The container's name
# goes first: as on Proxmox, its namespace is then reachable only through its
# init's /proc/PID/ns/net.
ip netns delete lxc9999 || note "ip netns delete lxc9999 failed"
hstat() { ip -s -j link show eth0pve050 | jq -r ".[0].stats64.$1.packets"; }
v5stat() { in_ns vm5 $IPROUTE -s -j link show eth0vm5v070 | jq -r ".[0].stats64.$1.packets"; }
htx0=$(hstat tx) hrx0=$(hstat rx) ctx0=$(ctstat tx) crx0=$(ctstat rx) v5tx0=$(v5stat tx) v5rx0=$(v5stat rx)
cli stats --format prometheus
htx1=$(hstat tx) hrx1=$(hstat rx) ctx1=$(ctstat tx) crx1=$(ctstat rx) v5tx1=$(v5stat tx) v5rx1=$(v5stat rx)
cli_htx=$(grep -E '^sriov_vf_tx_packets_total\{.*vf="1",.*source="netdev"\}' "$CLI_OUT" | awk '{ print $NF }')
cli_hrx=$(grep -E '^sriov_vf_rx_packets_total\{.*vf="1",.*source="netdev"\}' "$CLI_OUT" | awk '{ print $NF }')
if [ -n "$cli_htx" ] && [ -n "$cli_hrx" ] && [ "$cli_htx" -gt 0 ] && [ "$htx0" -le "$cli_htx" ] && [ "$cli_htx" -le "$htx1" ] &&
    [ "$hrx0" -le "$cli_hrx" ] && [ "$cli_hrx" -le "$hrx1" ]; then
    pass dataplane.stats_cli_netdev_source "sriov-cli stats: VF 1 tx_packets $cli_htx rx_packets $cli_hrx, source=\"netdev\", within iproute2's readings of eth0pve050 around it (tx $htx0..$htx1, rx $hrx0..$hrx1)"
else
    fail dataplane.stats_cli_netdev_source "sriov-cli stats: VF 1 tx '$cli_htx' rx '$cli_hrx' (want source=\"netdev\" samples, tx > 0, within ip -s link show eth0pve050: tx $htx0..$htx1, rx $hrx0..$hrx1): $(grep -E 'vf="1"' "$CLI_OUT" | head -n 2 | tr '\n' '|')"
fi
# netns_sample CHECK VF NETNS NETDEV TX0 TX1 RX0 RX1: VF's tx/rx_packets
# samples are source="netns" in NETNS under NETDEV's name, within TX0..TX1
# and RX0..RX1.
netns_sample() {
    local tx rx want="netns=\"$3\"" dev="netdev=\"$4\""
    tx=$(grep -E "^sriov_vf_tx_packets_total\\{.*vf=\"$2\",.*$dev.*source=\"netns\",$want\\}" "$CLI_OUT" | awk '{ print $NF }')
    rx=$(grep -E "^sriov_vf_rx_packets_total\\{.*vf=\"$2\",.*$dev.*source=\"netns\",$want\\}" "$CLI_OUT" | awk '{ print $NF }')
    if [ -n "$tx" ] && [ -n "$rx" ] && [ "$tx" -gt 0 ] && [ "$5" -le "$tx" ] && [ "$tx" -le "$6" ] && [ "$7" -le "$rx" ] && [ "$rx" -le "$8" ]; then
        pass "$1" "sriov-cli stats: VF $2 tx_packets $tx rx_packets $rx, source=\"netns\" $want $dev, within ip -s link show $4 in $3 around it (tx $5..$6, rx $7..$8)"
    else
        fail "$1" "sriov-cli stats: VF $2 tx '$tx' rx '$rx' (want source=\"netns\" $want $dev samples, tx > 0, within ip -s link show $4 in $3: tx $5..$6, rx $7..$8): $(grep -E "vf=\"$2\"" "$CLI_OUT" | head -n 2 | tr '\n' '|')"
    fi
}
if [ "$ptx1" != 0 ] && [ "$ptx1" != none ]; then
    # A PF that counts per VF: its figures come first.
    cli_tx=$(grep -E '^sriov_vf_tx_packets_total\{.*vf="4",.*source="pf"' "$CLI_OUT" | awk '{ print $NF }')
    expect_eq dataplane.stats_cli_netns_source "$cli_tx" "$ptx1" "(VF 4: IFLA_VF_STATS)"
else
    netns_sample dataplane.stats_cli_netns_source 4 "pid:$CT_PID" eth1lxc9999v050 "$ctx0" "$ctx1" "$crx0" "$crx1"
fi
netns_sample dataplane.stats_cli_netns_vm5 5 vm5 eth0vm5v070 "$v5tx0" "$v5tx1" "$v5rx0" "$v5rx1"

phase cleanup
note "dataplane scenario: $(awk -v a="$DP_T0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }') s"
dp_cleanup
