#include "cgroups/devices.hpp"

#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <utility>

namespace berth::cgroups {
namespace {

// ---- the program ---------------------------------------------------------------------------
// r1 is the bpf_cgroup_dev_ctx; the prologue spreads it over r2..r5, each rule is a block
// that jumps past itself on a mismatch and returns its verdict on a match, and the end refuses.
// Rules are emitted last first, so the last matching rule decides.

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn load_ctx_u32(uint8_t dst, int16_t off) { return insn(BPF_LDX | BPF_MEM | BPF_W, dst, 1, off, 0); }
bpf_insn mov_reg(uint8_t dst, uint8_t src) { return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn mov_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
bpf_insn and_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm); }
bpf_insn rsh_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm); }
bpf_insn jne_imm(uint8_t dst, int32_t imm, int16_t off) { return insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm); }
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

constexpr uint8_t kType = 2, kAccess = 3, kMajor = 4, kMinor = 5, kScratch = 6;

int32_t access_mask(const std::string& access) {
  int32_t m = 0;
  for (char c : access) {
    if (c == 'm') m |= BPF_DEVCG_ACC_MKNOD;
    if (c == 'r') m |= BPF_DEVCG_ACC_READ;
    if (c == 'w') m |= BPF_DEVCG_ACC_WRITE;
  }
  return m;
}
constexpr int32_t kAllAccess = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

// One rule's block. Jumps are relative to the next instruction, so each check's offset is
// the number of instructions left in the block after it.
std::vector<bpf_insn> rule_block(const DeviceRule& r) {
  struct Check { std::vector<bpf_insn> before; uint8_t reg; int32_t value; };
  std::vector<Check> checks;
  if (r.type != 'a') checks.push_back({{}, kType, r.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR});
  int32_t mask = access_mask(r.access);
  // The requested access must lie within the rule's: (access & ~mask) == 0.
  if (mask != kAllAccess) checks.push_back({{mov_reg(kScratch, kAccess), and_imm(kScratch, ~mask)}, kScratch, 0});
  if (r.major >= 0) checks.push_back({{}, kMajor, static_cast<int32_t>(r.major)});
  if (r.minor >= 0) checks.push_back({{}, kMinor, static_cast<int32_t>(r.minor)});
  size_t total = 2;  // the verdict
  for (const auto& c : checks) total += c.before.size() + 1;
  std::vector<bpf_insn> out;
  for (const auto& c : checks) {
    out.insert(out.end(), c.before.begin(), c.before.end());
    int16_t left = static_cast<int16_t>(total - out.size() - 1);
    out.push_back(jne_imm(c.reg, c.value, left));
  }
  out.push_back(mov_imm(0, r.allow ? 1 : 0));
  out.push_back(exit_insn());
  return out;
}

std::vector<bpf_insn> program(const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> p = {
      load_ctx_u32(kType, offsetof(bpf_cgroup_dev_ctx, access_type)),
      mov_reg(kAccess, kType),
      and_imm(kType, 0xffff),
      rsh_imm(kAccess, 16),
      load_ctx_u32(kMajor, offsetof(bpf_cgroup_dev_ctx, major)),
      load_ctx_u32(kMinor, offsetof(bpf_cgroup_dev_ctx, minor)),
  };
  for (auto r = rules.rbegin(); r != rules.rend(); ++r) {
    auto block = rule_block(*r);
    p.insert(p.end(), block.begin(), block.end());
    // A rule matching everything decides everything: what follows would be unreachable,
    // which the verifier refuses.
    if (block.size() == 2) return p;
  }
  p.push_back(mov_imm(0, 0));
  p.push_back(exit_insn());
  return p;
}

// ---- the kernel ----------------------------------------------------------------------------

long sys_bpf(int cmd, bpf_attr* attr) { return ::syscall(SYS_bpf, cmd, attr, sizeof(*attr)); }

Result<UniqueFd> load_program(const std::vector<bpf_insn>& insns) {
  static const char kLicense[] = "GPL";
  char log[4096] = {};
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uint64_t>(insns.data());
  attr.insn_cnt = static_cast<uint32_t>(insns.size());
  attr.license = reinterpret_cast<uint64_t>(kLicense);
  long fd = sys_bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return UniqueFd::adopt(static_cast<int>(fd));
  int err = errno;
  // Again with the verifier's log, for the message.
  attr.log_buf = reinterpret_cast<uint64_t>(log);
  attr.log_size = sizeof(log);
  attr.log_level = 1;
  fd = sys_bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return UniqueFd::adopt(static_cast<int>(fd));
  return Error{Code::kInternal, err,
               "load the device program (BPF_PROG_LOAD): " + std::string(std::strerror(err)) +
                   (log[0] ? std::string("; verifier: ") + log : "")};
}

bool is_cgroup2(int dirfd) {
  struct statfs s {};
  return ::fstatfs(dirfd, &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

bool has_v1_devices(const Cgroup& cg) { return ::faccessat(cg.fd(), "devices.allow", F_OK, 0) == 0; }

// Loaded programs by rule set: the verifier and the JIT run once per set (nearly every task has
// the default one), and one program is attached to any number of cgroups. A few sets at most in
// practice; past kMaxPrograms the cache starts over (the cgroups keep what they attached).
class LoadedPrograms {
 public:
  Result<int> get(const std::vector<DeviceRule>& rules) {
    std::lock_guard lk(mu_);
    for (const auto& [r, fd] : loaded_)
      if (r == rules) return fd.get();
    BERTH_TRY(UniqueFd prog, load_program(program(rules)));
    if (loaded_.size() >= kMaxPrograms) loaded_.clear();
    loaded_.emplace_back(rules, std::move(prog));
    return loaded_.back().second.get();
  }

 private:
  static constexpr size_t kMaxPrograms = 16;
  std::mutex mu_;
  std::vector<std::pair<std::vector<DeviceRule>, UniqueFd>> loaded_;
};

Status attach_program(const Cgroup& cg, const std::vector<DeviceRule>& rules) {
  static LoadedPrograms programs;
  BERTH_TRY(int prog, programs.get(rules));
  bpf_attr attr{};
  attr.target_fd = static_cast<uint32_t>(cg.fd());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = 0;  // no override below: the task cannot loosen its own rules
  if (sys_bpf(BPF_PROG_ATTACH, &attr) != 0) return errno_error("attach the device program to " + cg.path());
  return ok();
}

Status write_v1(const Cgroup& cg, const std::vector<DeviceRule>& rules) {
  BERTH_CHECK(cg.write("devices.deny", "a"));
  for (const auto& r : rules) BERTH_CHECK(cg.write(r.allow ? "devices.allow" : "devices.deny", to_string(r)));
  return ok();
}

std::string number(int64_t n) { return n < 0 ? "*" : std::to_string(n); }

}  // namespace

std::vector<DeviceRule> default_device_rules() {
  return {
      {true, 'c', -1, -1, "m"}, {true, 'b', -1, -1, "m"},  // mknod anything; opening is decided below
      {true, 'c', 1, 3, "rwm"},                            // null
      {true, 'c', 1, 5, "rwm"},                            // zero
      {true, 'c', 1, 7, "rwm"},                            // full
      {true, 'c', 1, 8, "rwm"},                            // random
      {true, 'c', 1, 9, "rwm"},                            // urandom
      {true, 'c', 5, 0, "rwm"},                            // tty
      {true, 'c', 5, 1, "rwm"},                            // console
      {true, 'c', 5, 2, "rwm"},                            // ptmx
      {true, 'c', 136, -1, "rwm"},                         // pts/*
  };
}

std::vector<DeviceRule> all_devices_rule() { return {{true, 'a', -1, -1, "rwm"}}; }

Status validate(const DeviceRule& r) {
  auto bad = [&](const std::string& why) {
    return make_error(Code::kInvalidArgument, "device rule \"" + to_string(r) + "\": " + why);
  };
  if (r.type != 'a' && r.type != 'b' && r.type != 'c') return bad("type must be \"c\", \"b\" or \"a\"");
  if (r.major < -1 || r.major > 0xfff || r.minor < -1 || r.minor > 0xfffff)
    return bad("major must be 0..4095 and minor 0..1048575 (or omitted for any)");
  if (r.access.empty() || r.access.find_first_not_of("rwm") != std::string::npos)
    return bad("access must be made of r, w and m");
  return ok();
}

std::string to_string(const DeviceRule& r) {
  return std::string(1, r.type) + " " + number(r.major) + ":" + number(r.minor) + " " + r.access;
}

std::vector<uint8_t> compile_device_program(const std::vector<DeviceRule>& rules) {
  auto p = program(rules);
  const auto* b = reinterpret_cast<const uint8_t*>(p.data());
  return std::vector<uint8_t>(b, b + p.size() * sizeof(bpf_insn));
}

Status restrict_devices(const TaskCgroups& task, const std::vector<DeviceRule>& rules) {
  for (const auto& r : rules) BERTH_CHECK(validate(r));
  bool enforced = false;
  if (is_cgroup2(task.unified().fd())) {
    BERTH_CHECK(attach_program(task.unified(), rules));
    enforced = true;
  }
  const Cgroup& v1 = task.for_controller("devices");
  if (!is_cgroup2(v1.fd()) && has_v1_devices(v1)) {
    BERTH_CHECK_CTX(write_v1(v1, rules), "device rules in " + v1.path());
    enforced = true;
  }
  if (!enforced)
    return make_error(Code::kFailedPrecondition, "no device controller for " + task.path() +
                                                     ": neither a cgroup2 directory (eBPF) nor a v1 devices one");
  return ok();
}

Status release_devices(const TaskCgroups& task) {
  if (!is_cgroup2(task.unified().fd())) return ok();
  bpf_attr attr{};
  attr.target_fd = static_cast<uint32_t>(task.unified().fd());
  attr.attach_bpf_fd = 0;  // the one program of a flags-0 attach needs no fd to name it
  attr.attach_type = BPF_CGROUP_DEVICE;
  if (sys_bpf(BPF_PROG_DETACH, &attr) != 0 && errno != ENOENT && errno != ENODEV)
    return errno_error("detach the device program from " + task.path());
  return ok();
}

}  // namespace berth::cgroups
