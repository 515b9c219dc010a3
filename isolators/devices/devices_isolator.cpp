#include "isolators/devices/devices_isolator.hpp"

namespace berth::isolators {

Result<LaunchAdditions> DevicesIsolator::additions(const ContainerId& id, const ContainerSpec& spec) {
  (void)id;
  LaunchAdditions a;
  if (spec.security.privileged) {
    a.devices = cgroups::all_devices_rule();
    return a;
  }
  a.devices = cgroups::default_device_rules();
  for (const auto& d : spec.security.devices) {
    DeviceRule r{true, d.type, d.major, d.minor, d.access};
    BERTH_CHECK_CTX(cgroups::validate(r), "security.devices" + (d.path.empty() ? "" : " " + d.path));
    a.devices.push_back(r);
    if (d.path.empty()) continue;
    if (d.type == 'a' || d.major < 0 || d.minor < 0)
      return make_error(Code::kInvalidArgument, "security.devices " + d.path +
                                                    ": a node needs type \"c\" or \"b\" and both major and minor");
    a.device_nodes.push_back(sandbox::OciDevice{d.path, d.type, d.major, d.minor, 0666});
  }
  return a;
}

}  // namespace berth::isolators
