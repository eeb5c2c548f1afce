#include "daemon/provider/lxd/base_pool.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/sha256.h"
#include "common/status.h"
#include "daemon/provider/lxd/base_pool_internal.h"

namespace sfactory::provider::lxd {
using base_internal::kCreatedKey;
using base_internal::kDigestKey;
using base_internal::Now;
using base_internal::Say;

namespace base_internal {

std::vector<std::pair<std::string, std::string>> BaseProperties(const BaseDefinition& base,
                                                                int64_t created_at) {
  return {{"description",
           absl::StrCat("sfactory base ", base.os, " ", base.arch, " ", base.digest.substr(0, 12))},
          {"os", base.os},
          {"architecture", base.arch},
          {kDigestKey, base.digest},
          {kCreatedKey, absl::StrCat(created_at)},
          {"sfactory.recipe", base.recipe},
          {"sfactory.packages", absl::StrJoin(base.packages, " ")},
          {"sfactory.source", base.source},
          {"sfactory.provision", kProvisionVersion}};
}

}  // namespace base_internal

std::string BaseDefinition::Alias() const { return "sfactory-base-" + digest.substr(0, 12); }

BaseDefinition DefineBase(const v1::BuildSpec& spec, const std::vector<std::string>& packages,
                          const LxdOptions& options) {
  BaseDefinition b;
  b.os = spec.os().empty() ? "debian-12" : spec.os();
  b.arch = spec.arch().empty() ? "x86_64" : spec.arch();
  b.recipe = spec.recipe();
  std::set<std::string> sorted(packages.begin(), packages.end());
  sorted.erase("");
  b.packages.assign(sorted.begin(), sorted.end());
  b.source = options.image_source.empty() ? "debootstrap" : "image:" + options.image_source;
  b.digest = Sha256Hex(absl::StrCat("sfactory-base\nos=", b.os, "\narch=", b.arch,
                                    "\nsource=", b.source, "\npackages=",
                                    absl::StrJoin(b.packages, ","),
                                    "\nprovision=", kProvisionVersion, "\n"));
  return b;
}

BasePool::BasePool(LxdClient& client, const LxdOptions& options, std::filesystem::path work_dir)
    : client_(client),
      options_(options),
      work_dir_(std::move(work_dir)),
      op_timeout_(options.operation_timeout_seconds) {}

int BasePool::creations() const {
  absl::MutexLock lock(&mu_);
  return creations_;
}

bool BasePool::Building(const std::string& digest) const {
  absl::MutexLock lock(&mu_);
  return building_.count(digest) > 0;
}

absl::Status BasePool::Acquire(const BaseDefinition& base, CancelToken& cancel) {
  absl::MutexLock lock(&mu_);
  auto free = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return building_.count(base.digest) == 0;
  };
  while (!free()) {
    if (cancel.cancelled()) {
      return absl::CancelledError(absl::StrCat("waiting for base image ", base.Alias(),
                                               ": cancelled"));
    }
    mu_.AwaitWithTimeout(absl::Condition(&free), absl::Seconds(1));
  }
  building_.emplace(base.digest, base);
  return absl::OkStatus();
}

void BasePool::Release(const std::string& digest) {
  absl::MutexLock lock(&mu_);
  building_.erase(digest);
}

absl::StatusOr<std::string> BasePool::FindReady(const BaseDefinition& base) {
  absl::StatusOr<Json> alias = client_.Sync("GET", absl::StrCat("/1.0/images/aliases/", base.Alias()),
                                            Json(), absl::StrCat("look up base ", base.Alias()));
  if (!alias.ok()) return alias.status();
  std::string fp = alias->value("target", "");
  SF_ASSIGN_OR_RETURN(Json image, client_.Sync("GET", absl::StrCat("/1.0/images/", fp), Json(),
                                               absl::StrCat("read base ", base.Alias())));
  v1::BaseImage d = Describe(image);
  if (d.digest() != base.digest) {
    return absl::NotFoundError(absl::StrCat("alias ", base.Alias(), " points at another image"));
  }
  if (d.state() == "expired") {
    return absl::NotFoundError(absl::StrCat("base ", base.Alias(), " has expired"));
  }
  return fp;
}

absl::StatusOr<std::string> BasePool::Ensure(const BaseDefinition& base,
                                             const std::string& storage_pool, OutputSink& log,
                                             CancelToken& cancel) {
  // Fast path: no lock while the base is there.
  absl::StatusOr<std::string> ready = FindReady(base);
  if (ready.ok() || !absl::IsNotFound(ready.status())) return ready;
  if (Building(base.digest)) {
    Say(log, absl::StrCat("waiting for base image ", base.Alias(), ", which another build is creating"));
  }
  SF_RETURN_IF_ERROR(Acquire(base, cancel));
  ready = FindReady(base);
  if (ready.ok() || !absl::IsNotFound(ready.status())) {
    Release(base.digest);
    return ready;
  }
  absl::StatusOr<std::string> fp = Build(base, storage_pool, log, cancel);
  Release(base.digest);
  return fp;
}

absl::StatusOr<v1::BaseImage> BasePool::Rebuild(const BaseDefinition& base,
                                                const std::string& storage_pool, OutputSink& log,
                                                CancelToken& cancel) {
  SF_RETURN_IF_ERROR(Acquire(base, cancel));
  absl::StatusOr<std::string> fp = Build(base, storage_pool, log, cancel);
  Release(base.digest);
  if (!fp.ok()) return fp.status();
  SF_ASSIGN_OR_RETURN(Json image, client_.Sync("GET", absl::StrCat("/1.0/images/", *fp), Json(),
                                               absl::StrCat("read base ", base.Alias())));
  return Describe(image);
}

absl::StatusOr<std::string> BasePool::Build(const BaseDefinition& base,
                                            const std::string& storage_pool, OutputSink& log,
                                            CancelToken& cancel) {
  auto start = absl::Now();
  Say(log, absl::StrCat("building base image ", base.Alias(), " (", base.os, " ", base.arch,
                        "; packages: ", base.packages.empty() ? "-" : absl::StrJoin(base.packages, " "),
                        "; source: ", base.source, ")"));
  absl::StatusOr<std::string> fp = base.source == "debootstrap"
                                       ? BuildWithDebootstrap(base, log, cancel)
                                       : BuildFromImage(base, storage_pool, log, cancel);
  if (!fp.ok()) return fp.status();
  SF_RETURN_IF_ERROR(PointAlias(base, *fp));
  {
    absl::MutexLock lock(&mu_);
    ++creations_;
  }
  // Older images of the same digest are superseded now.
  absl::StatusOr<Json> images = client_.Sync("GET", "/1.0/images?recursion=1", Json(), "list images");
  if (images.ok() && images->is_array()) {
    for (const Json& image : *images) {
      std::string other = image.value("fingerprint", "");
      if (other != *fp && Describe(image).digest() == base.digest) (void)DeleteImage(other);
    }
  }
  Say(log, absl::StrCat("base image ", base.Alias(), " ready (", fp->substr(0, 12), ") in ",
                        absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Seconds(1)))));
  return fp;
}

absl::Status BasePool::PointAlias(const BaseDefinition& base, const std::string& fingerprint) {
  std::string alias = base.Alias();
  absl::StatusOr<Json> r = client_.Sync(
      "POST", "/1.0/images/aliases",
      Json{{"name", alias}, {"target", fingerprint}, {"description", "sfactory base " + base.digest}},
      absl::StrCat("create alias ", alias));
  if (absl::IsAlreadyExists(r.status()) || absl::IsInternal(r.status()) ||
      absl::IsFailedPrecondition(r.status())) {
    r = client_.Sync("PUT", absl::StrCat("/1.0/images/aliases/", alias),
                     Json{{"target", fingerprint}, {"description", "sfactory base " + base.digest}},
                     absl::StrCat("move alias ", alias));
  }
  return r.status();
}

absl::Status BasePool::DeleteImage(const std::string& fingerprint) {
  absl::WriterMutexLock lock(&copy_mu_);
  absl::Status s = client_
                       .Run("DELETE", absl::StrCat("/1.0/images/", fingerprint), Json(), op_timeout_,
                            absl::StrCat("delete base image ", fingerprint.substr(0, 12)))
                       .status();
  return absl::IsNotFound(s) ? absl::OkStatus() : s;
}

v1::BaseImage BasePool::Describe(const Json& image) const {
  v1::BaseImage b;
  const Json props = image.value("properties", Json::object());
  auto prop = [&](const char* key) {
    return props.is_object() && props.contains(key) && props[key].is_string()
               ? props[key].get<std::string>()
               : std::string();
  };
  b.set_digest(prop(kDigestKey));
  b.set_os(prop("os"));
  b.set_arch(prop("architecture"));
  b.set_recipe(prop("sfactory.recipe"));
  std::string fp = image.value("fingerprint", "");
  b.set_name(fp);
  if (image.contains("aliases") && image["aliases"].is_array() && !image["aliases"].empty()) {
    b.set_name(image["aliases"][0].value("name", fp));
  }
  int64_t created = 0;
  if (!absl::SimpleAtoi(prop(kCreatedKey), &created)) created = 0;
  int64_t expires = created + int64_t{options_.base_max_age_days} * 86400;
  b.mutable_created_at()->set_seconds(created);
  b.mutable_expires_at()->set_seconds(expires);
  b.set_size(image.value("size", uint64_t{0}));
  // Superseded (no alias) or provisioned by an older sfactoryd: nothing
  // will use it again.
  bool aliased = b.name() != fp;
  bool current = prop("sfactory.provision") == kProvisionVersion;
  b.set_state(Now() >= expires || !aliased || !current ? "expired" : "ready");
  return b;
}

absl::StatusOr<std::vector<v1::BaseImage>> BasePool::List() {
  SF_ASSIGN_OR_RETURN(Json images, client_.Sync("GET", "/1.0/images?recursion=1", Json(),
                                                "list base images"));
  std::vector<v1::BaseImage> out;
  std::set<std::string> seen;
  if (images.is_array()) {
    for (const Json& image : images) {
      v1::BaseImage b = Describe(image);
      if (b.digest().empty()) continue;
      seen.insert(b.digest());
      out.push_back(std::move(b));
    }
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [digest, def] : building_) {
    v1::BaseImage b;
    b.set_digest(digest);
    b.set_os(def.os);
    b.set_arch(def.arch);
    b.set_recipe(def.recipe);
    b.set_name(def.Alias());
    b.set_state("building");
    out.push_back(std::move(b));
  }
  return out;
}

absl::StatusOr<std::vector<v1::BaseImage>> BasePool::Prune(bool all) {
  SF_ASSIGN_OR_RETURN(Json images, client_.Sync("GET", "/1.0/images?recursion=1", Json(),
                                                "list base images"));
  std::vector<v1::BaseImage> removed;
  if (!images.is_array()) return removed;
  for (const Json& image : images) {
    v1::BaseImage b = Describe(image);
    if (b.digest().empty()) continue;
    if (!all && b.state() != "expired") continue;
    if (Building(b.digest())) continue;
    SF_RETURN_IF_ERROR(DeleteImage(image.value("fingerprint", "")));
    removed.push_back(std::move(b));
  }
  return removed;
}

}  // namespace sfactory::provider::lxd
