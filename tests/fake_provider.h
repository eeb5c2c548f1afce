// A Provider for unit tests of the queue and the build lifecycle: its health
// (Check), whether Create works, and how a phase behaves are set by the
// test. Instances exist only in memory; PullFile writes a small tree.tar.
#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/fs.h"
#include "daemon/provider/provider.h"

namespace sfactory::testing {

class FakeProvider : public provider::Provider {
 public:
  enum class Phase {
    kSucceed,           // exit 0 at once
    kWaitForCancel,     // run until cancelled, then report Cancelled
    kIgnoreCancel,      // run until the test calls Unblock(), whatever cancel says
  };

  std::string name() const override { return "fake"; }

  absl::Status Check() override {
    absl::MutexLock lock(&mu_);
    ++checks_;
    return check_;
  }

  absl::StatusOr<std::unique_ptr<provider::Instance>> Create(const provider::InstanceRequest& r,
                                                             provider::OutputSink& log,
                                                             provider::CancelToken&) override {
    absl::MutexLock lock(&mu_);
    ++creates_;
    if (!outage_.ok()) check_ = outage_;  // the provider went away with this call
    if (!create_.ok()) return create_;
    if (!outage_.ok()) return outage_;
    live_.insert(r.build_id);
    return std::unique_ptr<provider::Instance>(new Instance(this, r.build_id));
  }

  absl::Status Destroy(std::unique_ptr<provider::Instance> instance) override {
    absl::MutexLock lock(&mu_);
    if (instance) live_.erase(instance->name());
    return absl::OkStatus();
  }

  absl::StatusOr<int> RemoveOrphans(const std::set<std::string>&) override {
    absl::MutexLock lock(&mu_);
    ++orphan_sweeps_;
    return 0;
  }

  // --- what the test sets
  void SetCheck(absl::Status s) {
    absl::MutexLock lock(&mu_);
    check_ = std::move(s);
  }
  void SetCreate(absl::Status s) {
    absl::MutexLock lock(&mu_);
    create_ = std::move(s);
  }
  // The next Create fails with `s`, and Check says `s` from then on (an
  // outage noticed by a build); OkStatus() ends the outage.
  void SetOutage(absl::Status s) {
    absl::MutexLock lock(&mu_);
    outage_ = s;
    if (s.ok()) check_ = s;
  }
  void SetPhase(Phase p) {
    absl::MutexLock lock(&mu_);
    phase_ = p;
  }
  // Ends every kIgnoreCancel phase that runs or will run.
  void Unblock() { unblock_.Notify(); }

  // --- what the test reads
  int checks() const { absl::MutexLock lock(&mu_); return checks_; }
  int creates() const { absl::MutexLock lock(&mu_); return creates_; }
  int execs() const { absl::MutexLock lock(&mu_); return execs_; }
  int orphan_sweeps() const { absl::MutexLock lock(&mu_); return orphan_sweeps_; }
  int live_instances() const { absl::MutexLock lock(&mu_); return static_cast<int>(live_.size()); }
  // Blocks until a phase has started (or `timeout`); true when one did.
  bool WaitForExec(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto started = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return execs_ > 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&started), timeout);
  }

 private:
  class Instance : public provider::Instance {
   public:
    Instance(FakeProvider* p, std::string name) : p_(p), name_(std::move(name)) {
      layout_ = {"/fake/sources", "/fake/ccache", "/fake/work", "/fake/out"};
    }
    const std::string& name() const override { return name_; }
    const provider::InstanceLayout& layout() const override { return layout_; }

    absl::StatusOr<int> Exec(const provider::ExecRequest& request, provider::OutputSink& sink,
                             provider::CancelToken& cancel) override {
      Phase phase;
      {
        absl::MutexLock lock(&p_->mu_);
        ++p_->execs_;
        phase = p_->phase_;
      }
      sink.Write(absl::StrCat("fake phase ", request.phase, "\n"));
      switch (phase) {
        case Phase::kSucceed:
          return 0;
        case Phase::kWaitForCancel: {
          absl::Notification cancelled;
          int id = cancel.OnCancel([&] { cancelled.Notify(); });
          cancelled.WaitForNotification();
          cancel.Unregister(id);
          return absl::CancelledError(absl::StrCat("phase ", request.phase, " was cancelled"));
        }
        case Phase::kIgnoreCancel:
          p_->unblock_.WaitForNotification();
          if (cancel.cancelled()) {
            return absl::CancelledError(absl::StrCat("phase ", request.phase, " was cancelled"));
          }
          return 0;
      }
      return 0;
    }

    absl::Status PushFile(const std::filesystem::path&, const std::string&, int) override {
      return absl::OkStatus();
    }
    absl::Status PullFile(const std::string&, const std::filesystem::path& host_path) override {
      return WriteFileAtomic(host_path, "tree");
    }

   private:
    FakeProvider* p_;
    std::string name_;
    provider::InstanceLayout layout_;
  };

  mutable absl::Mutex mu_;
  absl::Status check_ ABSL_GUARDED_BY(mu_);
  absl::Status create_ ABSL_GUARDED_BY(mu_);
  absl::Status outage_ ABSL_GUARDED_BY(mu_);
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kSucceed;
  int checks_ ABSL_GUARDED_BY(mu_) = 0;
  int creates_ ABSL_GUARDED_BY(mu_) = 0;
  int execs_ ABSL_GUARDED_BY(mu_) = 0;
  int orphan_sweeps_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::string> live_ ABSL_GUARDED_BY(mu_);
  absl::Notification unblock_;
};

}  // namespace sfactory::testing
