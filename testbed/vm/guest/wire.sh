# shellcheck shell=sh
# Reading and writing frames on the wire, for the dataplane scenario (POSIX
# sh: busybox's in the initramfs guest, bash in the systemd guest; sourced
# after the guest's lib.sh). Everything here is stock: tcpdump (Debian's, with
# libpcap) reads, the kernel's pktgen and ping write. No sriov-cli code.
#
#   in_ns NS CMD...            run CMD in network namespace NS ("-": the host's)
#   cap_start TAG NS DEV [-P]  tcpdump on DEV into /tmp/cap.TAG.pcap; -P: keep
#                              DEV out of promiscuous mode (a VF's own view)
#   cap_stop TAG               let the last frames land, stop tcpdump, cap_dump
#   cap_dump TAG               the capture so far as text, /tmp/cap.TAG.txt:
#                              one frame per line with link-level headers
#                              (tcpdump -r -e -nn), VLAN tags as libpcap rebuilt
#                              them from the kernel's metadata ("vlan 50, p 3,
#                              ethertype ..."); a running capture can be dumped
#   cap_lines TAG              that text (of the last cap_dump)
#   cap_count TAG ERE          frames whose line matches ERE (grep -E)
#   pktgen_send NS DEV KEY=VAL...   frames from the kernel's packet generator
#                              (pktgen: src_mac, dst_mac, vlan_id, count, ...),
#                              sent through the driver's ndo_start_xmit,
#                              bypassing the stack (a forged source MAC, a tag
#                              in the frame itself); prints pktgen's result

# Where iproute2's ip and tcpdump are: the initramfs guest's /tb/bin (busybox
# would run its own applets for a bare `ip`); the systemd guest sets both to
# Debian's.
IPROUTE=${IPROUTE:-/tb/bin/ip}
TCPDUMP=${TCPDUMP:-/tb/bin/tcpdump}
# testbed/vm/build packs tcpdump and the libraries only it needs apart.
[ -x "$TCPDUMP" ] || { [ -f /tb/tcpdump.tar.xz ] && tar -xJf /tb/tcpdump.tar.xz -C /; }
# tcpdump looks its user up (-Z root) and the initramfs has no user database.
[ -s /etc/passwd ] || echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
[ -s /etc/group ] || echo 'root:x:0:' >/etc/group

# wait_secs SECONDS CMD...: poll CMD every 0.2 s until it succeeds or SECONDS
# of uptime have passed (lib.sh's wait_until counts polls, and a poll that
# forks takes far longer than its 10 ms step under TCG).
wait_secs() {
    w_end=$(awk -v s="$1" '{ printf "%d", ($1 + s) * 10 }' /proc/uptime); shift
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$(awk '{ printf "%d", $1 * 10 }' /proc/uptime)" -ge "$w_end" ] && return 1
        sleep 0.2
    done
}

in_ns() {
    w_ns=$1; shift
    if [ "$w_ns" = - ]; then "$@"; else "$IPROUTE" netns exec "$w_ns" "$@"; fi
}

cap_start() {
    w_t=$1 w_ns=$2 w_dev=$3 w_p=""
    [ "${4:-}" = -P ] && w_p=-p
    rm -f "/tmp/cap.$w_t.pcap" "/tmp/cap.$w_t.err" "/tmp/cap.$w_t.txt"
    # -Z root: Debian's tcpdump would switch to a "tcpdump" user the guest
    # has not got; -U and --immediate-mode: every frame reaches the file at once.
    in_ns "$w_ns" "$TCPDUMP" -Z root -i "$w_dev" $w_p -U --immediate-mode -n -s 256 \
        -w "/tmp/cap.$w_t.pcap" 2>"/tmp/cap.$w_t.err" &
    echo $! >"/tmp/cap.$w_t.pid"
    wait_secs 30 grep -q 'listening on' "/tmp/cap.$w_t.err" || {
        note "tcpdump $w_t ($w_ns $w_dev) did not start: $(cat "/tmp/cap.$w_t.err")"
        return 1
    }
}

cap_stop() {
    w_pid=$(cat "/tmp/cap.$1.pid" 2>/dev/null)
    [ -n "$w_pid" ] || return 0
    sleep 0.5
    kill -INT "$w_pid" 2>/dev/null
    w_i=0
    while kill -0 "$w_pid" 2>/dev/null && [ $w_i -lt 50 ]; do sleep 0.1; w_i=$((w_i + 1)); done
    kill -9 "$w_pid" 2>/dev/null
    wait "$w_pid" 2>/dev/null
    rm -f "/tmp/cap.$1.pid"
    note "capture $1: $(grep -v '^listening' "/tmp/cap.$1.err" | tr '\n' ' ')"
    cap_dump "$1"
}

cap_dump() {
    "$TCPDUMP" -Z root -r "/tmp/cap.$1.pcap" -e -nn -t 2>"/tmp/cap.$1.rerr" >"/tmp/cap.$1.txt" ||
        note "tcpdump -r $1: $(cat "/tmp/cap.$1.rerr")"
}

cap_lines() { cat "/tmp/cap.$1.txt" 2>/dev/null; }

cap_count() {
    cap_lines "$1" | grep -cE -- "$2"
}

pktgen_send() {
    w_ns=$1 w_dev=$2; shift 2
    w_pg=/proc/net/pktgen
    {
        echo "echo rem_device_all >$w_pg/kpktgend_0"
        echo "echo 'add_device $w_dev' >$w_pg/kpktgend_0"
        for w_kv in "$@"; do echo "echo '${w_kv%%=*} ${w_kv#*=}' >$w_pg/$w_dev"; done
        echo "echo start >$w_pg/pgctrl"
        echo "sed -n '/^Result/,\$p' $w_pg/$w_dev | tr '\n' ' '"
        echo "echo rem_device_all >$w_pg/kpktgend_0"
    } >/tmp/pktgen.sh
    in_ns "$w_ns" sh /tmp/pktgen.sh 2>&1
}
