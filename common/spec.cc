#include "common/spec.h"

#include <algorithm>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/echo.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status.h"

namespace sfactory {
namespace {

const std::regex kVersionRe(R"(^[0-9]{2}\.[0-9]{2}(\.[0-9]{1,3})?$)");
const std::regex kOsRe(R"(^[a-z][a-z0-9.-]{0,31}$)");
const std::regex kArchRe(R"(^(x86_64|aarch64|ppc64le|riscv64)$)");

}  // namespace

absl::Status ValidateSpec(const v1::BuildSpec& spec) {
  if (spec.slurm_version().empty()) {
    return absl::InvalidArgumentError("a Slurm version is required, e.g. 24.11 or 24.11.5");
  }
  if (!std::regex_match(spec.slurm_version(), kVersionRe)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Slurm version ", EchoInput(spec.slurm_version(), 40),
                     " is malformed; write a series like 24.11 or a release like 24.11.5"));
  }
  if (!spec.recipe().empty() && !IsValidName(spec.recipe())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "recipe ", EchoInput(spec.recipe(), 40), " is malformed; recipe names are [a-z][a-z0-9-]*"));
  }
  for (const auto& v : spec.variants()) {
    if (!IsValidName(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "variant ", EchoInput(v, 40), " is malformed; variants are lower-case [a-z][a-z0-9-]*, "
          "at most 32 characters"));
    }
  }
  if (!spec.os().empty() && !std::regex_match(spec.os(), kOsRe)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "OS image ", EchoInput(spec.os(), 40), " is malformed; write e.g. debian-12 or ubuntu-24.04"));
  }
  if (!spec.arch().empty() && !std::regex_match(spec.arch(), kArchRe)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture ", EchoInput(spec.arch(), 40),
        " is not supported; use x86_64, aarch64, ppc64le or riscv64"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::BuildSpec> NormalizeSpec(const v1::BuildSpec& spec,
                                            const SpecDefaults& defaults,
                                            const Catalog& catalog) {
  SF_RETURN_IF_ERROR(ValidateSpec(spec));
  auto resolved = catalog.Resolve(spec.slurm_version());
  // In a request an unknown version is bad input, not a missing resource.
  if (!resolved.ok()) return absl::InvalidArgumentError(resolved.status().message());
  const Release* release = *resolved;
  v1::BuildSpec out;
  out.set_slurm_version(release->version);
  out.set_recipe(spec.recipe().empty() ? defaults.recipe : spec.recipe());
  std::set<std::string> variants(spec.variants().begin(), spec.variants().end());
  for (const auto& v : variants) out.add_variants(v);
  out.set_os(spec.os().empty() ? defaults.os : spec.os());
  out.set_arch(spec.arch().empty() ? defaults.arch : spec.arch());
  return out;
}

std::string CanonicalSpec(const v1::BuildSpec& spec) {
  return absl::StrCat("slurm_version=", spec.slurm_version(), "\n", "recipe=", spec.recipe(),
                      "\n", "variants=", absl::StrJoin(spec.variants(), ","), "\n",
                      "os=", spec.os(), "\n", "arch=", spec.arch(), "\n");
}

std::string SpecDigest(const v1::BuildSpec& normalized, absl::string_view recipe_digest,
                       absl::string_view release_digest) {
  return Sha256Hex(absl::StrCat("sfactory-spec-v1\n", CanonicalSpec(normalized),
                                "recipe_digest=", recipe_digest, "\n",
                                "release_digest=", release_digest, "\n"));
}

std::string SeriesOf(absl::string_view version) {
  size_t first = version.find('.');
  if (first == absl::string_view::npos) return std::string(version);
  size_t second = version.find('.', first + 1);
  return std::string(version.substr(0, second));
}

}  // namespace sfactory
