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
