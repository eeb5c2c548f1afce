#include "common/catalog.h"

#include <algorithm>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status.h"
#include "common/yaml_util.h"

namespace sfactory {
namespace {

const std::regex kSeriesRe(R"(^[0-9]{2}\.[0-9]{2}$)");
const std::regex kReleaseRe(R"(^[0-9]{2}\.[0-9]{2}\.[0-9]{1,3}$)");

absl::StatusOr<SourceFile> ParseSource(absl::string_view src, const YAML::Node& node) {
  SF_RETURN_IF_ERROR(CheckKeys(src, node, {"name", "sha256", "top_dir", "urls"}));
  SourceFile f;
  if (!node["name"]) return YamlError(src, node, "source needs a 'name'");
  SF_ASSIGN_OR_RETURN(f.name, YamlString(src, node["name"]));
  if (!IsValidSourceFileName(f.name)) {
    return YamlError(src, node["name"], absl::StrCat("bad source file name '", f.name, "'"));
  }
  // Without a digest the first copy to arrive would be trusted, and whoever
  // uploads first decides what every later build of the release contains.
  if (!node["sha256"]) {
    return YamlError(src, node["name"],
                     absl::StrCat("source '", f.name,
                                  "' needs a 'sha256' (sha256sum of the tarball; for a GitHub "
                                  "tag archive it is reproducible)"));
  }
  SF_ASSIGN_OR_RETURN(f.sha256, YamlString(src, node["sha256"]));
  if (!IsSha256Hex(f.sha256)) {
    return YamlError(src, node["sha256"], "sha256 must be 64 lower-case hex digits");
  }
  if (node["top_dir"]) {
    SF_ASSIGN_OR_RETURN(f.top_dir, YamlString(src, node["top_dir"]));
  }
  if (node["urls"]) {
    if (!node["urls"].IsSequence()) return YamlError(src, node["urls"], "urls must be a list");
    for (const auto& u : node["urls"]) {
      SF_ASSIGN_OR_RETURN(std::string url, YamlString(src, u));
      f.urls.push_back(std::move(url));
    }
  }
  return f;
}

std::string CanonicalRelease(const Release& r) {
  std::string out = absl::StrCat("release=", r.version, "\n");
  for (const auto& s : r.sources) {
    absl::StrAppend(&out, "source=", s.name, " sha256=", s.sha256, " top_dir=", s.top_dir, "\n");
  }
  return out;
}

}  // namespace

absl::StatusOr<Catalog> Catalog::Parse(absl::string_view yaml, absl::string_view src) {
  SF_ASSIGN_OR_RETURN(YAML::Node root, ParseYaml(yaml, src));
  SF_RETURN_IF_ERROR(CheckKeys(src, root, {"series"}));
  const YAML::Node series = root["series"];
  if (!series || !series.IsMap()) return YamlError(src, root, "'series' must be a mapping");
  Catalog catalog;
  for (const auto& kv : series) {
    Series s;
    s.series = kv.first.Scalar();
    if (!std::regex_match(s.series, kSeriesRe)) {
      return YamlError(src, kv.first, absl::StrCat("series '", s.series, "' is not like 24.11"));
    }
    SF_RETURN_IF_ERROR(CheckKeys(src, kv.second, {"pinned", "releases"}));
    if (!kv.second["pinned"]) return YamlError(src, kv.second, "series needs 'pinned'");
    SF_ASSIGN_OR_RETURN(s.pinned, YamlString(src, kv.second["pinned"]));
    const YAML::Node releases = kv.second["releases"];
    if (!releases || !releases.IsMap()) {
      return YamlError(src, kv.second, "series needs a 'releases' mapping");
    }
    for (const auto& rel : releases) {
      Release r;
      r.version = rel.first.Scalar();
      r.series = s.series;
      if (!std::regex_match(r.version, kReleaseRe) || r.version.rfind(s.series + ".", 0) != 0) {
        return YamlError(src, rel.first,
                         absl::StrCat("release '", r.version, "' is not a ", s.series, ".N release"));
      }
      SF_RETURN_IF_ERROR(CheckKeys(src, rel.second, {"sources"}));
      if (!rel.second["sources"] || !rel.second["sources"].IsSequence()) {
        return YamlError(src, rel.second, "release needs a 'sources' list");
      }
      for (const auto& sn : rel.second["sources"]) {
        SF_ASSIGN_OR_RETURN(SourceFile f, ParseSource(src, sn));
        r.sources.push_back(std::move(f));
      }
      r.digest = Sha256Hex(CanonicalRelease(r));
      s.releases.push_back(std::move(r));
    }
    bool pinned_known = std::any_of(s.releases.begin(), s.releases.end(),
                                    [&](const Release& r) { return r.version == s.pinned; });
    if (!pinned_known) {
      return YamlError(src, kv.second["pinned"],
                       absl::StrCat("pinned release ", s.pinned, " is not among the releases"));
    }
    catalog.series_.push_back(std::move(s));
  }
  std::sort(catalog.series_.begin(), catalog.series_.end(),
            [](const Series& a, const Series& b) { return a.series < b.series; });
  return catalog;
}

absl::StatusOr<Catalog> Catalog::LoadFile(const std::filesystem::path& path) {
  SF_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return Parse(text, path.string());
}

absl::StatusOr<const Release*> Catalog::Resolve(absl::string_view version) const {
  std::vector<std::string> known;
  for (const auto& s : series_) {
    known.push_back(s.series);
    if (version == s.series) {
      for (const auto& r : s.releases) {
        if (r.version == s.pinned) return &r;
      }
    }
    for (const auto& r : s.releases) {
      if (r.version == version) return &r;
    }
  }
  return absl::NotFoundError(absl::StrCat(
      "unknown Slurm version '", version, "'; known series: ", absl::StrJoin(known, ", "),
      " (run 'sfactory info' for every release)"));
}

const SourceFile* Catalog::FindSource(absl::string_view name) const {
  for (const auto& s : series_) {
    for (const auto& r : s.releases) {
      for (const auto& f : r.sources) {
        if (f.name == name) return &f;
      }
    }
  }
  return nullptr;
}

}  // namespace sfactory
