# shellcheck shell=sh
# check-iommu verdicts per boot variant, against the kernel's own view
# (/sys/class/iommu, iommu_groups, the default domain type).
#   vtd:  VT-d with interrupt remapping and iommu=pt       -> ready (exit 0)
#   amd:  AMD-Vi, but intremap=off (TCG needs it)          -> not ready (exit 1), and
#         the one failing check is interrupt-remapping; with
#         vfio_iommu_type1.allow_unsafe_interrupts=1        -> ready (exit 0)
#   none: no IOMMU                                         -> not ready (exit 1)

iommus=$(ls /sys/class/iommu 2>/dev/null | tr '\n' ' ')
ngroups=$(ls /sys/kernel/iommu_groups 2>/dev/null | wc -l)
note "iommus: '$iommus' groups: $ngroups cmdline: $(cat /proc/cmdline)"
case $TB_VARIANT in
    vtd) expect_match iommu.kernel_view "$iommus" '^dmar' "(/sys/class/iommu)" ;;
    amd) expect_match iommu.kernel_view "$iommus" '^ivhd' "(/sys/class/iommu)" ;;
    none) expect_eq iommu.kernel_view "$iommus/$ngroups" "/0" "(no IOMMU: no units, no groups)" ;;
esac
if [ "$TB_VARIANT" != none ]; then
    pfg=$(basename "$(readlink "$PFDEV/iommu_group")")
    expect_eq iommu.pt_identity "$(cat /sys/kernel/iommu_groups/$pfg/type 2>/dev/null)" identity "(iommu=pt: PF group $pfg)"
fi

case $TB_IOMMU_EXPECT in
    ready) want=0 ;;
    *) want=1 ;;
esac
verdict() { # NAME WANT
    cli check-iommu
    if [ "$CLI_RC" = "$2" ] && [ -s "$CLI_OUT" ]; then
        pass "$1" "exit $2 on $TB_VARIANT: $(tail -n1 "$CLI_OUT" | cut -c1-100)"
    else
        fail "$1" "exit $CLI_RC (want $2: 0 ready, 1 not ready) on $TB_VARIANT, $(wc -c <"$CLI_OUT") bytes on stdout; stderr: $(cli_err_line)"
    fi
    cli check-iommu --json
    expect_eq "$1_json_rc" "$CLI_RC" "$2" "(--json exit status)"
}
verdict iommu.check_verdict "$want"
if json_true "$CLI_OUT" 'has("verdict") and (.checks | length > 0)'; then
    pass iommu.check_json "verdict $(jq -c .verdict "$CLI_OUT" | cut -c1-80), $(jq '.checks | length' "$CLI_OUT") checks"
else
    fail iommu.check_json "no {verdict, checks} JSON on stdout: $(head -c 200 "$CLI_OUT")"
fi
# ACS of the PF's root port: check-iommu's evidence against the config space
# walked here with od (extended capabilities from 0x100; ACS is ID 0x000d,
# capability register at +4, control at +6; the kernel isolates with
# SV|RR|CR|UF = 0x001d on, of the bits the port can control).
port=$(basename "$(dirname "$(readlink -f "$PFDEV")")")
acs_walk() { # CONFIG -> enabled | partial CTL | absent | unreadable
    _c=$1 _off=256 _n=0
    [ "$(wc -c <"$_c")" -ge 4096 ] || { echo unreadable; return; }
    while [ "$_off" -ge 256 ] && [ "$_n" -lt 64 ]; do
        _h=$(od -An -tx4 -j "$_off" -N4 "$_c" | tr -d ' ')
        [ -n "$_h" ] && [ "$_h" != 00000000 ] && [ "$_h" != ffffffff ] || break
        if [ "$(( 0x$_h & 0xffff ))" = 13 ]; then
            _cap=$(( 0x$(od -An -tx2 -j $((_off + 4)) -N2 "$_c" | tr -d ' ') ))
            _ctl=$(( 0x$(od -An -tx2 -j $((_off + 6)) -N2 "$_c" | tr -d ' ') ))
            # Bits the port cannot control count as on (pci_acs_flags_enabled).
            _req=$(( 0x1d & _cap ))
            if [ $(( _ctl & _req )) = "$_req" ]; then echo enabled; else echo "partial $_ctl"; fi
            return
        fi
        _off=$(( (0x$_h >> 20) & 0xffc )); _n=$((_n + 1))
    done
    echo absent
}
if [ "$TB_VARIANT" != none ]; then
    theirs=$(acs_walk "/sys/bus/pci/devices/$port/config")
    ours=$(jq -r --arg s "/sys/bus/pci/devices/$port/config" '[.checks[] | select(.id == "devices") | .evidence[] | select(.source == $s) | .observed][0] // "none"' "$CLI_OUT")
    case $ours in
        "ACS enabled:"*) ours=enabled ;;
        "ACS present but not isolating"*) ours="partial $(( $(echo "$ours" | sed 's/.*ACSCtl \(0x[0-9a-f]*\).*/\1/') ))" ;;
        "no ACS capability"*) ours=absent ;;
    esac
    expect_eq iommu.root_port_acs "$ours" "$theirs" "(ACS of root port $port above the PF: check-iommu evidence vs the config space walked with od)"
fi
failing=$(jq -r '[.checks[]? | select(.status == "fail") | .id] | join(",")' "$CLI_OUT" 2>/dev/null)
case $TB_VARIANT in
    vtd) expect_eq iommu.failing_checks "$failing" "" ;;
    amd) expect_eq iommu.failing_checks "$failing" "interrupt-remapping" "(intremap=off)"
         p=/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts
         if echo 1 >"$p"; then
             verdict iommu.unsafe_interrupts_ready 0
             echo 0 >"$p"
         else
             fail iommu.unsafe_interrupts_ready "cannot write $p"
         fi ;;
    none) expect_match iommu.failing_checks "$failing" 'kernel-iommu|firmware' "(no IOMMU)" ;;
esac
