// berth's default seccomp profile (documented in docs/SECCOMP.md; keep the two in step).
#include <sched.h>

#include <cerrno>
#include <sstream>

#include "isolators/security/seccomp_profile.hpp"

namespace berth::isolators {
namespace {

std::vector<std::string> words(const char* text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

CapabilitySet cap(const char* name) { return CapabilitySet{1} << *capability_number(name); }

// Allowed for every task.
constexpr const char* kAllowed = R"(
  accept accept4 access alarm arch_prctl bind brk cachestat capget capset chdir chmod chown
  chown32 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
  clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
  epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
  epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2
  fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown
  fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr
  fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
  futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat get_mempolicy
  get_robust_list get_thread_area getcpu getcwd getdents getdents64 getegid getegid32 geteuid
  geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid
  getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit getrusage
  getsid getsockname getsockopt gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
  inotify_init inotify_init1 inotify_rm_watch io_cancel io_destroy io_getevents io_pgetevents
  io_pgetevents_time64 io_setup io_submit ioctl ioprio_get ioprio_set ipc kill
  landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr
  link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
  madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod
  mknodat mlock mlock2 mlockall mmap mmap2 modify_ldt mprotect mq_getsetattr mq_notify mq_open
  mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap
  mseal msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep
  newfstatat _newselect nice open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2
  pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2
  prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead
  readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages
  removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending
  rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
  rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min
  sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval
  sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
  sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
  semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list
  set_thread_area set_tid_address setdomainname setfsgid setfsgid32 setfsuid setfsuid32 setgid
  setgid32 setgroups setgroups32 sethostname setitimer setpgid setpriority setregid setregid32
  setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt
  setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaction sigaltstack signal
  signalfd signalfd4 sigpending sigprocmask sigreturn sigsuspend socket socketcall socketpair
  splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo
  tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
  timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
  timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname
  unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid
  write writev
)";

// Refused (EPERM) for every task, whatever its capabilities.
constexpr const char* kRefused = R"(
  add_key request_key keyctl io_uring_setup io_uring_enter io_uring_register nfsservctl uselib
  ustat sysfs _sysctl vm86 vm86old create_module get_kernel_syms query_module lookup_dcookie
)";

// Allowed with the capability, EPERM without (as the reference profiles do).
struct CapGated {
  const char* cap;
  const char* names;
};
constexpr CapGated kCapGated[] = {
    {"SYS_ADMIN", "mount umount umount2 pivot_root move_mount open_tree fsopen fsconfig fsmount fspick "
                  "mount_setattr setns quotactl quotactl_fd swapon swapoff fanotify_init bpf perf_event_open"},
    {"BPF", "bpf"},
    {"PERFMON", "perf_event_open"},
    {"SYS_MODULE", "init_module finit_module delete_module"},
    {"SYS_BOOT", "reboot kexec_load kexec_file_load"},
    {"SYS_TIME", "settimeofday stime clock_settime clock_settime64 adjtimex clock_adjtime clock_adjtime64"},
    {"SYS_PTRACE", "ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd process_madvise userfaultfd"},
    {"SYS_PACCT", "acct"},
    {"SYS_RAWIO", "iopl ioperm"},
    {"SYS_TTY_CONFIG", "vhangup"},
    {"SYS_NICE", "mbind set_mempolicy set_mempolicy_home_node migrate_pages move_pages"},
    {"SYSLOG", "syslog"},
    {"DAC_READ_SEARCH", "open_by_handle_at"},
    {"SYS_CHROOT", "chroot"},
};

constexpr uint64_t kCloneNamespaces = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                      CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
constexpr uint64_t kUnshareNamespaces = kCloneNamespaces | CLONE_NEWTIME;

SeccompRule rule(std::vector<std::string> names, SeccompAction action, uint32_t err = EPERM) {
  SeccompRule r;
  r.names = std::move(names);
  r.action = action;
  r.errno_ret = err;
  return r;
}

// clone/unshare without SYS_ADMIN: allowed when no namespace flag is set, EPERM for each one.
void add_namespace_flag_rules(SeccompProfile& p, const char* name, uint64_t mask) {
  CapabilitySet admin = cap("SYS_ADMIN");
  SeccompRule allow = rule({name}, SeccompAction::kAllow);
  allow.args.push_back({0, mask, 0, SeccompArg::Op::kMaskedEq});
  allow.caps_none = admin;
  p.rules.push_back(allow);
  for (uint64_t bit = 1; bit != 0; bit <<= 1) {
    if (!(mask & bit)) continue;
    SeccompRule deny = rule({name}, SeccompAction::kErrno);
    deny.args.push_back({0, bit, bit, SeccompArg::Op::kMaskedEq});
    deny.caps_none = admin;
    p.rules.push_back(deny);
  }
  SeccompRule any = rule({name}, SeccompAction::kAllow);
  any.caps_all = admin;
  p.rules.push_back(any);
}

SeccompProfile build_default() {
  SeccompProfile p;
  p.default_action = SeccompAction::kErrno;
  p.default_errno = ENOSYS;  // unknown to the profile: "not implemented", so libc falls back
  p.architectures = {SeccompArch::kX86_64, SeccompArch::kX86, SeccompArch::kX32};
  p.rules.push_back(rule(words(kAllowed), SeccompAction::kAllow));
  p.rules.push_back(rule(words(kRefused), SeccompAction::kErrno));
  for (const auto& g : kCapGated) {
    SeccompRule allow = rule(words(g.names), SeccompAction::kAllow);
    allow.caps_all = cap(g.cap);
    p.rules.push_back(allow);
  }
  // EPERM for the gated ones a task lacks every enabling capability of (bpf: SYS_ADMIN or BPF).
  std::map<std::string, CapabilitySet> enabling;
  for (const auto& g : kCapGated)
    for (auto& n : words(g.names)) enabling[n] |= cap(g.cap);
  for (const auto& [name, caps] : enabling) {
    SeccompRule deny = rule({name}, SeccompAction::kErrno);
    deny.caps_none = caps;
    p.rules.push_back(deny);
  }
  // personality: only the harmless personas (Linux, and the 32-bit and address-limit variants).
  for (uint64_t persona : {0x0ULL, 0x8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL}) {
    SeccompRule r = rule({"personality"}, SeccompAction::kAllow);
    r.args.push_back({0, persona, 0, SeccompArg::Op::kEq});
    p.rules.push_back(r);
  }
  add_namespace_flag_rules(p, "clone", kCloneNamespaces);
  add_namespace_flag_rules(p, "unshare", kUnshareNamespaces);
  // clone3's flags are in memory a filter cannot read: ENOSYS, so libc falls back to clone.
  SeccompRule clone3 = rule({"clone3"}, SeccompAction::kErrno, ENOSYS);
  clone3.caps_none = cap("SYS_ADMIN");
  p.rules.push_back(clone3);
  SeccompRule clone3_admin = rule({"clone3"}, SeccompAction::kAllow);
  clone3_admin.caps_all = cap("SYS_ADMIN");
  p.rules.push_back(clone3_admin);
  return p;
}

}  // namespace

const SeccompProfile& default_seccomp_profile() {
  static const SeccompProfile profile = build_default();
  return profile;
}

}  // namespace berth::isolators
