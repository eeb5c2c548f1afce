#include "daemon/service/build_service.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/build_state.h"
#include "common/echo.h"
#include "common/fs.h"
#include "common/grpc_status.h"
#include "common/sha256.h"
#include "common/status.h"
#include "common/logging.h"
#include "daemon/service/calls.h"

namespace sfactory::service {
namespace {

constexpr size_t kLogChunk = 256 * 1024;
constexpr size_t kFetchChunk = 1024 * 1024;

// Sends the file at `path`, recorded as `artifact`, from `read_offset`: the
// first message carries `artifact`. DATA_LOSS when the file is missing or
// shorter than recorded.
grpc::Status StreamFile(grpc::ServerContext* ctx, const std::filesystem::path& path,
                        const v1::Artifact& artifact, uint64_t read_offset,
                        grpc::ServerWriter<v1::FetchArtifactResponse>* writer,
                        absl::string_view rpc, metrics::Recorder* metrics) {
  if (read_offset > artifact.size()) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        absl::StrCat("read_offset ", read_offset, " is past the end (",
                                     artifact.size(), " bytes)"));
  }
  auto fd = OpenFile(path, O_RDONLY);
  if (!fd.ok()) {
    return Reply(absl::DataLossError(absl::StrCat("artifact ", artifact.name(),
                                                  " is recorded but its file is missing: ",
                                                  fd.status().message())),
                 rpc);
  }
  ::posix_fadvise(fd->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  uint64_t offset = read_offset;
  v1::FetchArtifactResponse first;
  *first.mutable_artifact() = artifact;
  first.set_offset(offset);
  bool sent_header = false;
  while (offset < artifact.size() || !sent_header) {
    if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    v1::FetchArtifactResponse resp;
    if (!sent_header) resp = first;
    size_t want = static_cast<size_t>(std::min<uint64_t>(kFetchChunk, artifact.size() - offset));
    std::string* data = resp.mutable_data();
    data->resize(want);
    auto n = PreadFull(fd->get(), data->data(), want, offset);
    if (!n.ok()) return Reply(n.status(), rpc);
    if (*n != want) {
      return Reply(absl::DataLossError(absl::StrCat("artifact ", artifact.name(), " is shorter on disk than recorded")),
                   rpc);
    }
    resp.set_offset(offset);
    offset += want;
    sent_header = true;
    if (!writer->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    metrics->FetchBytes(want);
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status BuildServiceImpl::SubmitBuild(grpc::ServerContext* ctx,
                                           const v1::SubmitBuildRequest* req,
                                           v1::SubmitBuildResponse* resp) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
  if (shutting_down_->load()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "sfactoryd is shutting down; retry shortly");
  }
  if (req->priority() > max_priority_) {
    absl::Status allowed = auth_->admins().Require(
        caller, absl::StrCat("submit at priority ", req->priority(), " (above max_priority ",
                             max_priority_, ")"));
    if (!allowed.ok()) return ToGrpcStatus(allowed);
  }
  auto r = manager_->Submit(*req, caller.name);
  if (!r.ok()) return Reply(r.status(), "SubmitBuild");
  *resp->mutable_build() = std::move(r->build);
  resp->set_outcome(r->outcome);
  for (auto& w : r->warnings) resp->add_warnings(std::move(w));
  return grpc::Status::OK;
}

grpc::Status BuildServiceImpl::GetBuild(grpc::ServerContext* ctx, const v1::GetBuildRequest* req,
                                        v1::Build* resp) {
  SF_AUTHENTICATED_OR_RETURN(*auth_, *ctx);
  auto b = manager_->Get(req->build_id());
  if (!b.ok()) return Reply(b.status(), "GetBuild");
  *resp = std::move(*b);
  return grpc::Status::OK;
}

grpc::Status BuildServiceImpl::ListBuilds(grpc::ServerContext* ctx, const v1::ListBuildsRequest* req,
                                          v1::ListBuildsResponse* resp) {
  SF_AUTHENTICATED_OR_RETURN(*auth_, *ctx);
  if (req->page_size() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("page_size must be 0 (the default, 50) to 1000, got ",
                                     req->page_size()));
  }
  store::ListFilter f;
  for (int s : req->states()) f.states.push_back(static_cast<v1::BuildState>(s));
  f.owner = req->owner();
  f.version_prefix = req->slurm_version();
  f.page_size = req->page_size() > 0 ? req->page_size() : 50;
  f.page_token = req->page_token();
  auto r = manager_->List(f);
  if (!r.ok()) return Reply(r.status(), "ListBuilds");
  for (auto& b : r->builds) *resp->add_builds() = std::move(b);
  resp->set_next_page_token(r->next_page_token);
  return grpc::Status::OK;
}

absl::StatusOr<v1::Build> BuildServiceImpl::OwnedBuild(const auth::Caller& caller,
                                                       const std::string& id,
                                                       absl::string_view action) {
  SF_ASSIGN_OR_RETURN(v1::Build build, manager_->Get(id));
  SF_RETURN_IF_ERROR(auth_->admins().RequireOwnerOrAdmin(caller, build.owner(),
                                                         absl::StrCat(action, build.id())));
  return build;
}

grpc::Status BuildServiceImpl::CancelBuild(grpc::ServerContext* ctx, const v1::CancelBuildRequest* req,
                                           v1::Build* resp) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
  auto build = OwnedBuild(caller, req->build_id(), "cancel build ");
  if (!build.ok()) return Reply(build.status(), "CancelBuild");
  std::string reason = req->reason().substr(0, 200);
  if (caller.name != build->owner()) reason = absl::StrCat(reason, reason.empty() ? "" : " ", "(by ", caller.name, ")");
  auto b = manager_->Cancel(req->build_id(), reason);
  if (!b.ok()) return Reply(b.status(), "CancelBuild");
  *resp = std::move(*b);
  return grpc::Status::OK;
}

grpc::Status BuildServiceImpl::SetQueuePaused(grpc::ServerContext* ctx,
                                              const v1::SetQueuePausedRequest* req,
                                              v1::QueueStatus* resp) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
  if (absl::Status s = auth_->admins().Require(
          caller, req->paused() ? "pause the build queue" : "resume the build queue");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  auto status = manager_->SetQueuePaused(req->paused(), caller.name, req->reason().substr(0, 200));
  if (!status.ok()) return Reply(status.status(), "SetQueuePaused");
  *resp = *std::move(status);
  return grpc::Status::OK;
}

grpc::Status BuildServiceImpl::WatchBuild(grpc::ServerContext* ctx,
                                          const v1::WatchBuildRequest* req,
                                          grpc::ServerWriter<v1::BuildEvent>* writer) {
  SF_AUTHENTICATED_OR_RETURN(*auth_, *ctx);
  auto first = manager_->Get(req->build_id());
  if (!first.ok()) return Reply(first.status(), "WatchBuild");
  if (req->log_offset() > first->log_size()) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        absl::StrCat("log_offset ", req->log_offset(), " is past the end of the log of ",
                                     first->id(), " (", first->log_size(), " bytes)"));
  }
  v1::BuildEvent ev;
  *ev.mutable_build() = *first;
  if (!writer->Write(ev)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  v1::BuildState last_state = first->state();
  std::string last_phase = first->current_phase();
  int last_done = first->phases_size();  // two steps in a row may share a name
  uint64_t offset = req->log_offset();
  auto path = manager_->LogPath(req->build_id());

  // Sends every byte from `offset` to the end of the file; false when the
  // client went away.
  auto drain = [&]() -> absl::StatusOr<bool> {
    for (;;) {
      SF_ASSIGN_OR_RETURN(std::string chunk, runner::ReadLogChunk(path, offset, kLogChunk));
      if (chunk.empty()) return true;
      v1::BuildEvent log_ev;
      log_ev.mutable_log()->set_offset(offset);
      offset += chunk.size();
      *log_ev.mutable_log()->mutable_data() = std::move(chunk);
      if (!writer->Write(log_ev)) return false;
    }
  };

  for (;;) {
    // Take the log (and its generation) before reading, so nothing written
    // after the read can be missed by the wait below.
    auto log = manager_->ActiveLog(req->build_id());
    uint64_t gen = log ? log->generation() : 0;
    auto sent = drain();
    if (!sent.ok()) return Reply(sent.status(), "WatchBuild");
    if (!*sent) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    if (!req->follow()) return grpc::Status::OK;
    if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    if (shutting_down_->load()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "sfactoryd is shutting down; reconnect to resume from offset " +
                              std::to_string(offset));
    }
    bool check_state = true;
    if (log) {
      check_state = log->WaitForChange(offset, gen, absl::Now() + absl::Seconds(1)) &&
                    (log->generation() != gen || log->closed());
    } else if (!IsTerminal(last_state)) {
      absl::SleepFor(absl::Milliseconds(200));  // queued: wait for it to start
    }
    if (!check_state) continue;
    auto b = manager_->Get(req->build_id());
    if (!b.ok()) return Reply(b.status(), "WatchBuild");
    if (b->state() != last_state || b->current_phase() != last_phase ||
        b->phases_size() != last_done) {
      // Bytes written before the state change go out before it.
      auto more = drain();
      if (!more.ok()) return Reply(more.status(), "WatchBuild");
      if (!*more) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      b->set_log_size(std::max<uint64_t>(b->log_size(), offset));
      v1::BuildEvent state_ev;
      *state_ev.mutable_build() = *b;
      if (!writer->Write(state_ev)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      last_state = b->state();
      last_phase = b->current_phase();
      last_done = b->phases_size();
    }
    if (IsTerminal(last_state) && !manager_->ActiveLog(req->build_id())) {
      auto rest = drain();
      if (!rest.ok()) return Reply(rest.status(), "WatchBuild");
      return grpc::Status::OK;
    }
  }
}

grpc::Status BuildServiceImpl::FetchArtifact(grpc::ServerContext* ctx,
                                             const v1::FetchArtifactRequest* req,
                                             grpc::ServerWriter<v1::FetchArtifactResponse>* writer) {
  SF_AUTHENTICATED_OR_RETURN(*auth_, *ctx);
  v1::Artifact artifact;
  if (!req->build_id().empty()) {
    auto b = manager_->Get(req->build_id());
    if (!b.ok()) return Reply(b.status(), "FetchArtifact");
    if (b->state() != v1::BUILD_STATE_SUCCEEDED) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat("build ", req->build_id(), " has not succeeded; it has no artifacts"));
    }
    bool found = false;
    for (const auto& a : b->artifacts()) {
      if ((!req->name().empty() && a.name() == req->name()) ||
          (req->name().empty() && !req->sha256().empty() && a.sha256() == req->sha256())) {
        artifact = a;
        found = true;
        break;
      }
    }
    if (!found) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("build ", req->build_id(), " has no artifact named ",
                                       EchoInput(req->name())));
    }
  } else if (IsSha256Hex(req->sha256())) {
    auto a = store_->FindArtifactBySha256(req->sha256());
    if (!a.ok()) return Reply(a.status(), "FetchArtifact");
    if (!*a) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no artifact with sha256 " + req->sha256());
    artifact = **a;
  } else {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "give build_id and name, or a 64-hex-digit sha256");
  }
  return StreamFile(ctx, artifacts_->PathOf(artifact.sha256()), artifact, req->read_offset(),
                    writer, "FetchArtifact", metrics_);
}

grpc::Status BuildServiceImpl::GetDebugBundle(grpc::ServerContext* ctx,
                                              const v1::GetDebugBundleRequest* req,
                                              grpc::ServerWriter<v1::FetchArtifactResponse>* writer) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
  // It shows the build's environment and config.log: like cancel.
  auto b = OwnedBuild(caller, req->build_id(), "fetch the debug bundle of build ");
  if (!b.ok()) return Reply(b.status(), "GetDebugBundle");
  if (!IsTerminal(b->state())) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("build ", b->id(), " is ", BuildStateName(b->state()),
                     "; a debug bundle is written when it fails (follow it: sfactory logs -f ",
                     b->id(), ")"));
  }
  if (!b->has_debug_bundle()) {
    std::string why = b->state() == v1::BUILD_STATE_FAILED
                          ? "it failed before it could collect one; see sfactory logs "
                          : absl::StrCat("it ", BuildStateName(b->state()),
                                         "; only failed builds keep one. Its log: sfactory logs ");
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("build ", b->id(), " kept no debug bundle (", why, b->id(),
                                     ")"));
  }
  return StreamFile(ctx, manager_->DebugBundlePath(b->id()), b->debug_bundle(), req->read_offset(),
                    writer, "GetDebugBundle", metrics_);
}

}  // namespace sfactory::service
