#include "agent/loop.hpp"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

namespace berth::agent {

void Loop::block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void Loop::unblock_signals_in_child() {
  sigset_t set;
  sigemptyset(&set);
  sigprocmask(SIG_SETMASK, &set, nullptr);
}

Loop::Loop() = default;

Loop::~Loop() {
  // Every source the loop owns holds a reference on event_: unref them all, or event_ (and
  // the sources it owns, the wakeup and signal ones) outlives the loop.
  for (auto* w : watches_) {
    sd_event_source_unref(w->source);
    delete w;
  }
  for (auto* w : once_watches_) {
    sd_event_source_unref(w->source);
    delete w;
  }
  for (auto& [id, t] : timers_) {
    sd_event_source_unref(t->source);
    delete t;
  }
  if (event_) sd_event_unref(event_);
}

Status Loop::init() {
  int r = sd_event_new(&event_);
  if (r < 0) return errno_error(-r, "create event loop");
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return errno_error("eventfd");
  wakeup_ = UniqueFd::adopt(efd);
  r = sd_event_add_io(event_, nullptr, wakeup_.get(), EPOLLIN, &Loop::on_wakeup, this);
  if (r < 0) return errno_error(-r, "watch eventfd");
  for (int sig : {SIGTERM, SIGINT, SIGCHLD}) {
    r = sd_event_add_signal(event_, nullptr, sig, &Loop::on_signal, this);
    if (r < 0) return errno_error(-r, "watch signal " + std::to_string(sig));
  }
  return ok();
}

int Loop::run() {
  sd_event_loop(event_);
  return stop_signal_;
}

void Loop::exit() {
  post([this] { sd_event_exit(event_, 0); });
}

void Loop::post(Fn fn) {
  {
    std::lock_guard lk(mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  (void)!::write(wakeup_.get(), &one, sizeof(one));
}

int Loop::on_wakeup(sd_event_source*, int fd, uint32_t, void* self) {
  auto* loop = static_cast<Loop*>(self);
  uint64_t n;
  (void)!::read(fd, &n, sizeof(n));
  for (;;) {
    Fn fn;
    {
      std::lock_guard lk(loop->mu_);
      if (loop->posted_.empty()) break;
      fn = std::move(loop->posted_.front());
      loop->posted_.pop_front();
    }
    fn();
  }
  return 0;
}

uint64_t Loop::add_timer_ms(uint64_t delay_ms, Fn fn) {
  uint64_t now = 0;
  sd_event_now(event_, CLOCK_MONOTONIC, &now);
  auto* t = new Timer{this, next_timer_++, nullptr, std::move(fn)};
  int r = sd_event_add_time(event_, &t->source, CLOCK_MONOTONIC, now + delay_ms * 1000, 1000,
                            &Loop::on_timer, t);
  if (r < 0) {
    // Out of memory in sd-event: run the action now rather than silently never.
    Fn run = std::move(t->fn);
    delete t;
    post(std::move(run));
    return 0;
  }
  timers_[t->id] = t;
  return t->id;
}

void Loop::cancel_timer(uint64_t id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  sd_event_source_unref(it->second->source);
  delete it->second;
  timers_.erase(it);
}

int Loop::on_timer(sd_event_source*, uint64_t, void* userdata) {
  auto* t = static_cast<Timer*>(userdata);
  Loop* loop = t->loop;
  Fn fn = std::move(t->fn);
  loop->cancel_timer(t->id);
  fn();
  return 0;
}

Status Loop::watch_once(int fd, Fn fn) {
  auto* w = new Watch{this, nullptr, std::move(fn)};
  int r = sd_event_add_io(event_, &w->source, fd, EPOLLIN, &Loop::on_io, w);
  if (r < 0) {
    delete w;
    return errno_error(-r, "watch fd");
  }
  once_watches_.insert(w);
  return ok();
}

int Loop::on_io(sd_event_source* s, int, uint32_t, void* userdata) {
  auto* w = static_cast<Watch*>(userdata);
  Fn fn = std::move(w->fn);
  w->loop->once_watches_.erase(w);
  sd_event_source_unref(s);
  delete w;
  fn();
  return 0;
}

Status Loop::watch(int fd, Fn fn) {
  auto* w = new Watch{this, nullptr, std::move(fn)};
  int r = sd_event_add_io(event_, &w->source, fd, EPOLLIN, &Loop::on_io_persistent, w);
  if (r < 0) {
    delete w;
    return errno_error(-r, "watch fd");
  }
  watches_.push_back(w);
  return ok();
}

int Loop::on_io_persistent(sd_event_source*, int, uint32_t, void* userdata) {
  static_cast<Watch*>(userdata)->fn();
  return 0;
}

int Loop::on_signal(sd_event_source*, const struct signalfd_siginfo* si, void* self) {
  auto* loop = static_cast<Loop*>(self);
  if (si->ssi_signo == SIGCHLD) {
    if (loop->sigchld_) loop->sigchld_();
    return 0;
  }
  loop->stop_signal_ = static_cast<int>(si->ssi_signo);
  sd_event_exit(loop->event_, 0);
  return 0;
}

}  // namespace berth::agent
