#include "tests/unit/client/fake_daemon.h"

#include "tests/unit/client/client_test_util.h"

#include <algorithm>
#include <stdexcept>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace sfactory::client::testing {
v1::Build MakeBuild(const std::string& id, v1::BuildState state) {
  v1::Build b;
  b.set_id(id);
  b.set_requested_version("24.11");
  b.mutable_spec()->set_slurm_version("24.11.5");
  b.mutable_spec()->set_recipe("native");
  b.mutable_spec()->set_os("debian-12");
  b.mutable_spec()->set_arch("x86_64");
  b.set_state(state);
  b.set_owner("alice");
  b.set_attempt(1);
  b.set_digest(std::string(64, 'd'));
  b.mutable_created_at()->set_seconds(1700000000);
  if (state != v1::BUILD_STATE_QUEUED) b.mutable_started_at()->set_seconds(1700000010);
  if (state >= v1::BUILD_STATE_SUCCEEDED) b.mutable_finished_at()->set_seconds(1700000310);
  return b;
}

class FakeDaemon::BuildService final : public v1::BuildService::Service {
 public:
  explicit BuildService(FakeDaemon& d) : d_(d) {}

  grpc::Status SubmitBuild(grpc::ServerContext*, const v1::SubmitBuildRequest* request,
                           v1::SubmitBuildResponse* response) override {
    absl::MutexLock lock(&d_.mu_);
    d_.state_.submits.push_back(*request);
    *response = d_.state_.submit_response;
    const v1::Build& b = response->build();
    if (d_.state_.builds.count(b.id()) == 0) d_.state_.builds[b.id()] = b;
    return grpc::Status::OK;
  }

  grpc::Status GetBuild(grpc::ServerContext*, const v1::GetBuildRequest* request,
                        v1::Build* response) override {
    absl::MutexLock lock(&d_.mu_);
    auto it = d_.state_.builds.find(request->build_id());
    if (it == d_.state_.builds.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("no build ", request->build_id()));
    }
    *response = it->second;
    return grpc::Status::OK;
  }

  grpc::Status ListBuilds(grpc::ServerContext*, const v1::ListBuildsRequest* request,
                          v1::ListBuildsResponse* response) override {
    absl::MutexLock lock(&d_.mu_);
    std::vector<v1::Build> matching;
    for (const auto& [id, b] : d_.state_.builds) {
      if (!request->states().empty() &&
          std::find(request->states().begin(), request->states().end(), b.state()) ==
              request->states().end()) {
        continue;
      }
      if (!request->owner().empty() && b.owner() != request->owner()) continue;
      matching.push_back(b);
    }
    size_t start = 0;
    if (!request->page_token().empty() && !absl::SimpleAtoi(request->page_token(), &start)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page token");
    }
    size_t size = request->page_size() > 0 ? static_cast<size_t>(request->page_size())
                                           : static_cast<size_t>(d_.state_.list_page_size);
    for (size_t i = start; i < matching.size() && i < start + size; ++i) {
      *response->add_builds() = matching[i];
    }
    if (start + size < matching.size()) response->set_next_page_token(absl::StrCat(start + size));
    return grpc::Status::OK;
  }

  grpc::Status CancelBuild(grpc::ServerContext*, const v1::CancelBuildRequest* request,
                           v1::Build* response) override {
    absl::MutexLock lock(&d_.mu_);
    auto it = d_.state_.builds.find(request->build_id());
    if (it == d_.state_.builds.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no build");
    if (it->second.owner() != "alice") {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "only the owner may cancel");
    }
    it->second.set_state(v1::BUILD_STATE_CANCELLED);
    it->second.set_error(request->reason());
    *response = it->second;
    return grpc::Status::OK;
  }

  // Sends the build, the log from the requested offset in chunks, and (with
  // follow) the final build; a configured cut ends the stream early.
  grpc::Status WatchBuild(grpc::ServerContext* context, const v1::WatchBuildRequest* request,
                          grpc::ServerWriter<v1::BuildEvent>* writer) override {
    v1::Build build;
    std::string log;
    size_t chunk = 0;
    bool cut = false;
    bool hold = false;
    size_t cut_after = 0;
    uint64_t begin = 0;
    v1::BuildState final_state;
    std::string final_error;
    {
      absl::MutexLock lock(&d_.mu_);
      d_.state_.watch_offsets.push_back(request->log_offset());
      auto it = d_.state_.builds.find(request->build_id());
      if (it == d_.state_.builds.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no build");
      build = it->second;
      log = d_.state_.logs[request->build_id()];
      chunk = d_.state_.chunk_size;
      if (d_.state_.watch_cuts > 0) {
        --d_.state_.watch_cuts;
        cut = true;
        cut_after = d_.state_.watch_cut_after;
        hold = d_.state_.watch_hold;
      }
      begin = request->log_offset();
      if (begin > 0) begin -= std::min(begin, d_.state_.watch_resend);
      final_state = d_.state_.final_state;
      final_error = d_.state_.final_error;
    }
    if (request->log_offset() > log.size()) {
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "offset past the end of the log");
    }
    v1::BuildEvent event;
    *event.mutable_build() = build;
    writer->Write(event);
    size_t sent = 0;
    for (uint64_t off = begin; off < log.size(); off += chunk) {
      size_t n = std::min<size_t>(chunk, log.size() - off);
      if (cut && sent + n > cut_after) n = cut_after - sent;
      if (n > 0) {
        event.Clear();
        event.mutable_log()->set_offset(off);
        event.mutable_log()->set_data(log.substr(off, n));
        writer->Write(event);
        sent += n;
      }
      if (cut && sent >= cut_after) {
        if (hold) {
          {
            absl::MutexLock lock(&d_.mu_);
            d_.state_.holding = true;
          }
          while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
        }
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "daemon restarting");
      }
    }
    if (request->follow()) {
      build.set_state(final_state);
      build.set_error(final_error);
      build.mutable_finished_at()->set_seconds(build.started_at().seconds() + 303);
      build.set_log_size(log.size());
      {
        absl::MutexLock lock(&d_.mu_);
        v1::Build& stored = d_.state_.builds[build.id()];
        stored.set_state(final_state);
        stored.set_error(final_error);
        *build.mutable_artifacts() = stored.artifacts();
      }
      event.Clear();
      *event.mutable_build() = build;
      writer->Write(event);
    }
    return grpc::Status::OK;
  }

  grpc::Status FetchArtifact(grpc::ServerContext*, const v1::FetchArtifactRequest* request,
                             grpc::ServerWriter<v1::FetchArtifactResponse>* writer) override {
    std::optional<FakeArtifact> artifact;
    StreamPlan plan;
    {
      absl::MutexLock lock(&d_.mu_);
      for (const FakeArtifact& a : d_.state_.artifacts[request->build_id()]) {
        if (a.listed.name() == request->name()) artifact = a;
      }
      if (!artifact) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no artifact");
      plan = Plan(request->read_offset());
    }
    return Stream(*artifact, plan, writer);
  }

  // The debug bundle set with SetDebugBundle, through the same stream (and
  // cuts) as FetchArtifact; else `debug_error`.
  grpc::Status GetDebugBundle(grpc::ServerContext*, const v1::GetDebugBundleRequest* request,
                              grpc::ServerWriter<v1::FetchArtifactResponse>* writer) override {
    FakeArtifact bundle;
    StreamPlan plan;
    {
      absl::MutexLock lock(&d_.mu_);
      auto it = d_.state_.debug_bundles.find(request->build_id());
      if (it == d_.state_.debug_bundles.end()) return d_.state_.debug_error;
      bundle = it->second;
      plan = Plan(request->read_offset());
    }
    return Stream(bundle, plan, writer);
  }

 private:
  struct StreamPlan {
    uint64_t read_offset = 0;
    size_t chunk = 0;
    bool cut = false;  // end with UNAVAILABLE after cut_after bytes
    size_t cut_after = 0;
  };

  // Records the offset and takes one of the planned cuts.
  StreamPlan Plan(uint64_t read_offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d_.mu_) {
    d_.state_.fetch_offsets.push_back(read_offset);
    StreamPlan plan{read_offset, d_.state_.chunk_size};
    if (d_.state_.fetch_cuts > 0) {
      --d_.state_.fetch_cuts;
      plan.cut = true;
      plan.cut_after = d_.state_.fetch_cut_after;
    }
    return plan;
  }

  // Sends `artifact` as `plan` says.
  static grpc::Status Stream(const FakeArtifact& artifact, const StreamPlan& plan,
                             grpc::ServerWriter<v1::FetchArtifactResponse>* writer) {
    const uint64_t read_offset = plan.read_offset;
    const size_t chunk = plan.chunk;
    const bool cut = plan.cut;
    const size_t cut_after = plan.cut_after;
    if (read_offset > artifact.bytes.size()) {
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "offset past the end");
    }
    v1::FetchArtifactResponse response;
    *response.mutable_artifact() = artifact.listed;
    response.set_offset(read_offset);
    size_t sent = 0;
    for (uint64_t off = read_offset; off < artifact.bytes.size(); off += chunk) {
      size_t n = std::min<size_t>(chunk, artifact.bytes.size() - off);
      if (cut && sent + n > cut_after) n = cut_after - sent;
      response.set_offset(off);
      response.set_data(artifact.bytes.substr(off, n));
      writer->Write(response);
      response.Clear();
      sent += n;
      if (cut && sent >= cut_after) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "daemon restarting");
      }
    }
    if (response.has_artifact()) writer->Write(response);  // empty artifact: header only
    return grpc::Status::OK;
  }

  FakeDaemon& d_;
};

class FakeDaemon::InfoService final : public v1::ServerInfoService::Service {
 public:
  grpc::Status GetServerInfo(grpc::ServerContext*, const v1::GetServerInfoRequest*,
                             v1::ServerInfo* info) override {
    info->set_version("0.1.0-fake");
    info->set_provider("local");
    info->set_provider_problem("");
    v1::RecipeInfo* r = info->add_recipes();
    r->set_name("native");
    r->set_description("Slurm's own configure and make");
    r->add_variants("minimal");
    v1::SlurmSeries* s = info->add_slurm_series();
    s->set_series("24.11");
    s->set_pinned("24.11.5");
    s->add_releases("24.11.5");
    info->set_max_parallel_builds(2);
    info->set_running_builds(1);
    info->set_queued_builds(3);
    info->set_default_recipe("native");
    info->set_default_os("debian-12");
    info->set_default_arch("x86_64");
    return grpc::Status::OK;
  }
};

class FakeDaemon::SourceService final : public v1::SourceService::Service {
 public:
  explicit SourceService(FakeDaemon& d) : d_(d) {}

  grpc::Status AddSource(grpc::ServerContext*, grpc::ServerReader<v1::AddSourceRequest>* reader,
                         v1::Source* response) override {
    v1::AddSourceRequest message;
    v1::Source header;
    std::string bytes;
    bool first = true;
    while (reader->Read(&message)) {
      if (first) {
        if (!message.has_header()) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "header first");
        }
        header = message.header();
        first = false;
        continue;
      }
      bytes += message.data();
    }
    if (Sha256Hex(bytes) != header.sha256()) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, "digest mismatch");
    }
    absl::MutexLock lock(&d_.mu_);
    d_.state_.uploaded.push_back(bytes);
    d_.state_.upload_headers.push_back(header);
    *response = header;
    response->mutable_added_at()->set_seconds(1700000000);
    return grpc::Status::OK;
  }

  grpc::Status ListSources(grpc::ServerContext*, const v1::ListSourcesRequest*,
                           v1::ListSourcesResponse* response) override {
    absl::MutexLock lock(&d_.mu_);
    for (const v1::Source& s : d_.state_.upload_headers) *response->add_sources() = s;
    return grpc::Status::OK;
  }

 private:
  FakeDaemon& d_;
};

class FakeDaemon::ImageService final : public v1::ImageService::Service {
 public:
  grpc::Status ListBaseImages(grpc::ServerContext*, const v1::ListBaseImagesRequest*,
                              v1::ListBaseImagesResponse* response) override {
    v1::BaseImage* i = response->add_images();
    i->set_digest(std::string(64, 'a'));
    i->set_os("debian-12");
    i->set_arch("x86_64");
    i->set_recipe("native");
    i->set_name("sfactory-base-aaaaaaaaaaaa");
    i->set_state("ready");
    i->set_size(300 << 20);
    return grpc::Status::OK;
  }
  grpc::Status RebuildBaseImage(grpc::ServerContext*, const v1::RebuildBaseImageRequest*,
                                v1::BaseImage*) override {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "only an admin may rebuild images");
  }
  grpc::Status PruneBaseImages(grpc::ServerContext*, const v1::PruneBaseImagesRequest*,
                               v1::PruneBaseImagesResponse*) override {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "only an admin may prune images");
  }
};

class FakeDaemon::AuthService final : public v1::AuthService::Service {
 public:
  explicit AuthService(FakeDaemon& d) : d_(d) {}

  grpc::Status WhoAmI(grpc::ServerContext* context, const v1::WhoAmIRequest*,
                      v1::WhoAmIResponse* response) override {
    absl::MutexLock lock(&d_.mu_);
    if (grpc::Status s = Authenticate(*context); !s.ok()) return s;
    *response = d_.state_.whoami;
    std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
    if (auth != nullptr && auth->IsPeerAuthenticated()) {
      for (const grpc::string_ref& cn : auth->FindPropertyValues("x509_common_name")) {
        response->set_name(std::string(cn.data(), cn.size()));
        response->set_via("certificate");
        response->set_uid(0);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status CreateToken(grpc::ServerContext* context, const v1::CreateTokenRequest* request,
                           v1::CreateTokenResponse* response) override {
    absl::MutexLock lock(&d_.mu_);
    if (grpc::Status s = Admin(*context); !s.ok()) return s;
    d_.state_.token_creates.push_back(*request);
    v1::Token* t = response->mutable_token();
    t->set_name(request->name());
    t->set_user(request->user().empty() ? request->name() : request->user());
    t->set_admin(request->admin());
    t->set_created_by(d_.state_.whoami.name());
    t->mutable_created_at()->set_seconds(1700000000);
    if (request->expires_in_seconds() > 0) {
      t->mutable_expires_at()->set_seconds(1700000000 + request->expires_in_seconds());
    }
    response->set_secret(absl::StrCat("sft1_", request->name(), "_secret"));
    d_.state_.tokens.push_back(*t);
    return grpc::Status::OK;
  }

  grpc::Status ListTokens(grpc::ServerContext* context, const v1::ListTokensRequest*,
                          v1::ListTokensResponse* response) override {
    absl::MutexLock lock(&d_.mu_);
    if (grpc::Status s = Admin(*context); !s.ok()) return s;
    for (const v1::Token& t : d_.state_.tokens) *response->add_tokens() = t;
    return grpc::Status::OK;
  }

  grpc::Status RevokeToken(grpc::ServerContext* context, const v1::RevokeTokenRequest* request,
                           v1::Token* response) override {
    absl::MutexLock lock(&d_.mu_);
    if (grpc::Status s = Admin(*context); !s.ok()) return s;
    std::vector<v1::Token>& tokens = d_.state_.tokens;
    for (auto it = tokens.begin(); it != tokens.end(); ++it) {
      if (it->name() == request->name()) {
        *response = *it;
        tokens.erase(it);
        return grpc::Status::OK;
      }
    }
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("no token ", request->name()));
  }

 private:
  grpc::Status Authenticate(const grpc::ServerContext& context)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(d_.mu_) {
    auto it = context.client_metadata().find("authorization");
    std::string authorization;
    if (it != context.client_metadata().end()) {
      authorization.assign(it->second.data(), it->second.size());
    }
    d_.state_.authorizations.push_back(authorization);
    if (!d_.state_.required_token.empty() &&
        authorization != absl::StrCat("Bearer ", d_.state_.required_token)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no valid token");
    }
    return grpc::Status::OK;
  }

  grpc::Status Admin(const grpc::ServerContext& context) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d_.mu_) {
    if (grpc::Status s = Authenticate(context); !s.ok()) return s;
    if (!d_.state_.admin) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "only an admin may manage tokens; admins are listed in the daemon's "
                          "config (admins:)");
    }
    return grpc::Status::OK;
  }

  FakeDaemon& d_;
};

FakeDaemon::FakeDaemon(const FakeTls& tls) {
  grpc::SslServerCredentialsOptions options(tls.client_ca.empty()
                                                ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls.client_ca;
  options.pem_key_cert_pairs.push_back({tls.key, tls.cert});
  address_ = "127.0.0.1:0";
  Start(grpc::SslServerCredentials(options));
}

FakeDaemon::FakeDaemon() : dir_(NewTempDir("sfactory-client-test-")) {
  address_ = absl::StrCat("unix:", (dir_->path() / "sfactoryd.sock").string());
  Start();
}

FakeDaemon::FakeDaemon(const std::string& address) : address_(address) { Start(); }

void FakeDaemon::Start(std::shared_ptr<grpc::ServerCredentials> credentials) {
  {
    absl::MutexLock lock(&mu_);
    state_.whoami.set_name("alice");
    state_.whoami.set_via("unix-socket");
    state_.whoami.set_uid(1000);
    state_.whoami.set_admin(true);
  }
  builds_ = std::make_unique<BuildService>(*this);
  info_ = std::make_unique<InfoService>();
  sources_ = std::make_unique<SourceService>(*this);
  images_ = std::make_unique<ImageService>();
  auth_ = std::make_unique<AuthService>(*this);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address_, credentials ? credentials : grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(builds_.get());
  builder.RegisterService(info_.get());
  builder.RegisterService(sources_.get());
  builder.RegisterService(images_.get());
  builder.RegisterService(auth_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) throw std::runtime_error("cannot start the fake daemon");
  if (credentials) address_ = absl::StrCat("127.0.0.1:", port);
}

FakeDaemon::~FakeDaemon() {
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

void FakeDaemon::AddSucceededBuild(const std::string& id,
                                   const std::vector<std::pair<std::string, std::string>>& files) {
  absl::MutexLock lock(&mu_);
  v1::Build b = MakeBuild(id, v1::BUILD_STATE_SUCCEEDED);
  std::vector<FakeArtifact>& artifacts = state_.artifacts[id];
  for (const auto& [name, bytes] : files) {
    FakeArtifact a;
    a.listed.set_name(name);
    a.listed.set_sha256(Sha256Hex(bytes));
    a.listed.set_size(bytes.size());
    a.listed.set_kind("software");
    a.bytes = bytes;
    *b.add_artifacts() = a.listed;
    artifacts.push_back(std::move(a));
  }
  state_.builds[id] = b;
}

void FakeDaemon::SetDebugBundle(const std::string& id, const std::string& bytes) {
  absl::MutexLock lock(&mu_);
  FakeArtifact a;
  a.listed.set_name(id + "-debug.tar.gz");
  a.listed.set_sha256(Sha256Hex(bytes));
  a.listed.set_size(bytes.size());
  a.listed.set_kind("debug");
  a.bytes = bytes;
  *state_.builds[id].mutable_debug_bundle() = a.listed;
  state_.debug_bundles[id] = std::move(a);
}

}  // namespace sfactory::client::testing
