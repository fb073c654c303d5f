# shellcheck shell=sh
# check-iommu verdicts per boot variant, against the kernel's own view
# (/sys/class/iommu, iommu_groups, the default domain type).

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
cli check-iommu
if [ "$CLI_RC" = "$want" ] && [ -s "$CLI_OUT" ]; then
    pass iommu.check_verdict "exit $want on $TB_VARIANT: $(tail -n1 "$CLI_OUT" | cut -c1-100)"
else
    fail iommu.check_verdict "exit $CLI_RC (want $want: 0 ready, 1 not ready) on $TB_VARIANT, $(wc -c <"$CLI_OUT") bytes on stdout; stderr: $(cli_err_line)"
fi
cli check-iommu --json
expect_eq iommu.check_json_rc "$CLI_RC" "$want" "(--json exit status)"
if json_true "$CLI_OUT" 'has("verdict") and (.checks | length > 0)'; then
    pass iommu.check_json "verdict $(jq -c .verdict "$CLI_OUT" | cut -c1-80), $(jq '.checks | length' "$CLI_OUT") checks"
else
    fail iommu.check_json "no {verdict, checks} JSON on stdout: $(head -c 200 "$CLI_OUT")"
fi
