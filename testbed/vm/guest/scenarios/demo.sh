# shellcheck shell=sh
# "Try it without hardware": the guide's layout applied by sriov-cli on a real
# SR-IOV host, shown the way a user would look at it.
# The default config path, as on a real host.
mkdir -p /etc/sriov-cli
cp /tb/guest/configs/guide.toml /etc/sriov-cli/sriov.toml
CFG=/etc/sriov-cli/sriov.toml
echo "== the config: $CFG"; indent 80 <"$CFG"
echo "== sriov-cli setup --dry-run"; cli setup --config "$CFG" --dry-run
echo "== sriov-cli setup"; cli setup --config "$CFG"
expect_rc demo.setup 0
echo "== sriov-cli status"; cli status
expect_rc demo.status 0
echo "== the kernel's view: ip -d link show $PF"; ip -d link show dev "$PF" | indent
echo "== ip -br addr; ip route"; ip -br addr | indent; ip route | indent
echo "== ls -l /sys/class/net/$PF/device/virtfn*"; ls -l "$PFDEV"/virtfn* | indent
echo "== sriov-cli check-iommu"; cli check-iommu
echo "== sriov-cli generate systemd-unit"; cli generate systemd-unit --config "$CFG"
echo "== sriov-cli generate pve-mapping"; cli generate pve-mapping
echo "== sriov-cli generate hostpci"; cli generate hostpci
echo "== sriov-cli stats --format prometheus"; cli stats --format prometheus
true
