// TaskTable: states only move forward, a checkpoint is the record, wait wakes on the end, and
// the kill grace deadline survives a checkpoint round trip.
#include "agent/task_table.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <thread>

#include "common/fs.hpp"

namespace berth::agent {
namespace {

class TaskTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/task-table-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)fs::remove_tree(dir_); }

  std::shared_ptr<Task> add(const std::string& id, State s) {
    auto t = std::make_shared<Task>();
    t->rec.id = id;
    t->rec.state = s;
    t->rec.bundle_dir = dir_;
    auto lk = table_.lock();
    table_.insert_locked(t);
    return t;
  }

  std::string dir_;
  EventBus events_;
  TaskTable table_{events_};
};

TEST_F(TaskTableTest, StatesOnlyMoveForward) {
  auto t = add("a", State::kPreparing);
  auto f = add("b", State::kPulling);
  auto lk = table_.lock();
  EXPECT_TRUE(table_.advance_locked(*t, State::kRunning));
  EXPECT_FALSE(table_.advance_locked(*t, State::kPreparing)) << "back to preparing";
  EXPECT_FALSE(table_.advance_locked(*t, State::kFailed)) << "a started task exits, it does not fail";
  EXPECT_TRUE(table_.advance_locked(*t, State::kExited));
  // The race of defect 17: a late launch step must not revive an exited task.
  EXPECT_FALSE(table_.advance_locked(*t, State::kRunning));
  EXPECT_EQ(t->rec.state, State::kExited);
  EXPECT_TRUE(table_.advance_locked(*f, State::kFailed));
  EXPECT_FALSE(table_.advance_locked(*f, State::kExited));
  EXPECT_EQ(f->rec.state, State::kFailed);
}

TEST_F(TaskTableTest, WaitWakesWhenTheTaskEnds) {
  auto t = add("a", State::kRunning);
  auto none = table_.wait("a", 0);
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
  std::thread ender([&] {
    auto lk = table_.lock();
    t->rec.exit = Termination{"exited", 0, std::nullopt, "exited with code 0", 1, 2};
    table_.advance_locked(*t, State::kExited);
    lk.unlock();
    table_.notify();
  });
  auto done = table_.wait("a", 10000);
  ender.join();
  ASSERT_TRUE(done.has_value() && done->has_value());
  EXPECT_EQ((*done)->reason, "exited");
  EXPECT_EQ(table_.wait("nope", 0).error().code, Code::kNotFound);
}

TEST_F(TaskTableTest, CheckpointCarriesTheKillDeadline) {
  auto t = add("0123456789abcdef", State::kRunning);
  auto spec = parse_task_spec(R"({"rootfs": "/srv/root", "command": ["true"]})");
  ASSERT_TRUE(spec.has_value()) << spec.error().message;
  t->rec.spec = *spec;
  t->rec.kill_requested = true;
  t->rec.kill_deadline_ms = 123456789;
  {
    auto lk = table_.lock();
    ASSERT_TRUE(table_.checkpoint_locked(t->rec).has_value());
  }
  auto text = fs::read_file(dir_ + "/state.json");
  ASSERT_TRUE(text.has_value());
  auto back = parse_checkpoint(*text);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->kill_deadline_ms, 123456789);
  EXPECT_TRUE(back->kill_requested);
  EXPECT_EQ(back->state, State::kRunning);
}

TEST_F(TaskTableTest, FindsByIdOrNameAndListsOldestFirst) {
  auto b = add("b", State::kRunning);
  auto a = add("a", State::kRunning);
  a->rec.created_at_ns = 1;
  b->rec.created_at_ns = 2;
  b->rec.name = "web";
  auto lk = table_.lock();
  EXPECT_EQ(table_.find_locked("web"), b);
  EXPECT_EQ(table_.find_locked("a"), a);
  EXPECT_EQ(table_.find_locked("zzz"), nullptr);
  lk.unlock();
  auto all = table_.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "a");
}

}  // namespace
}  // namespace berth::agent
