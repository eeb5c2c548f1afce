#include "common/catalog.h"

#include <algorithm>
#include <map>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status.h"
#include "common/yaml_util.h"

namespace sfactory {
namespace fs = std::filesystem;
namespace {

const std::regex kSeriesRe(R"(^[0-9]{2}\.[0-9]{2}$)");
const std::regex kReleaseRe(R"(^[0-9]{2}\.[0-9]{2}\.[0-9]{1,3}$)");
const std::regex kMonthRe(R"(^(20[0-9]{2})-(0[1-9]|1[0-2])$)");

absl::StatusOr<SourceFile> ParseSource(absl::string_view src, const YAML::Node& node) {
  SF_RETURN_IF_ERROR(CheckKeys(src, node, {"name", "sha256", "top_dir", "urls"}));
  SourceFile f;
  f.origin = YamlWhere(src, node);
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

absl::StatusOr<Release> ParseRelease(absl::string_view src, const std::string& series,
                                     const YAML::Node& key, const YAML::Node& value) {
  Release r;
  r.version = key.Scalar();
  r.series = series;
  r.origin = YamlWhere(src, key);
  if (!std::regex_match(r.version, kReleaseRe) || r.version.rfind(series + ".", 0) != 0) {
    return YamlError(src, key, absl::StrCat("release '", r.version, "' is not a ", series, ".N release"));
  }
  SF_RETURN_IF_ERROR(CheckKeys(src, value, {"sources"}));
  if (!value["sources"] || !value["sources"].IsSequence() || value["sources"].size() == 0) {
    return YamlError(src, value, "release needs a 'sources' list with at least one source");
  }
  for (const auto& sn : value["sources"]) {
    SF_ASSIGN_OR_RETURN(SourceFile f, ParseSource(src, sn));
    r.sources.push_back(std::move(f));
  }
  r.digest = Sha256Hex(CanonicalRelease(r));
  return r;
}

// A field of a series that only one file may set, and where it was set.
struct Setting {
  std::string value;
  std::string origin;
};

// Folds files into one catalog, refusing any redefinition.
class Merger {
 public:
  absl::Status AddFile(absl::string_view yaml, absl::string_view src) {
    SF_ASSIGN_OR_RETURN(YAML::Node root, ParseYaml(yaml, src));
    if (root.IsNull()) return absl::OkStatus();  // an empty drop-in
    SF_RETURN_IF_ERROR(CheckKeys(src, root, {"series"}));
    const YAML::Node series = root["series"];
    if (!series || !series.IsMap()) return YamlError(src, root, "'series' must be a mapping");
    for (const auto& kv : series) SF_RETURN_IF_ERROR(AddSeries(src, kv.first, kv.second));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Series>> Finish() && {
    for (auto& s : series_) {
      const Setting& pinned = pinned_[s.series];
      if (pinned.value.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            s.origin, ": series ", s.series, " has no 'pinned' release (the release a '",
            s.series, "' request builds)"));
      }
      bool known = std::any_of(s.releases.begin(), s.releases.end(),
                               [&](const Release& r) { return r.version == pinned.value; });
      if (!known) {
        return absl::InvalidArgumentError(absl::StrCat(
            pinned.origin, ": pinned release ", pinned.value, " is not among the releases of ",
            s.series));
      }
      s.pinned = pinned.value;
      s.end_of_support = end_of_support_[s.series].value;
    }
    std::sort(series_.begin(), series_.end(),
              [](const Series& a, const Series& b) { return a.series < b.series; });
    return std::move(series_);
  }

 private:
  absl::Status AddSeries(absl::string_view src, const YAML::Node& key, const YAML::Node& value) {
    const std::string name = key.Scalar();
    if (!std::regex_match(name, kSeriesRe)) {
      return YamlError(src, key, absl::StrCat("series '", name, "' is not like 24.11"));
    }
    SF_RETURN_IF_ERROR(CheckKeys(src, value, {"pinned", "end_of_support", "releases"}));
    auto it = std::find_if(series_.begin(), series_.end(),
                           [&](const Series& s) { return s.series == name; });
    if (it == series_.end()) {
      it = series_.insert(series_.end(), Series{});
      it->series = name;
      it->origin = YamlWhere(src, key);
    }
    SF_RETURN_IF_ERROR(SetOnce(src, value["pinned"], name, "pinned release", &pinned_[name]));
    if (value["end_of_support"]) {
      SF_RETURN_IF_ERROR(SetOnce(src, value["end_of_support"], name, "end of support",
                                 &end_of_support_[name]));
      if (!std::regex_match(end_of_support_[name].value, kMonthRe)) {
        return YamlError(src, value["end_of_support"],
                         "end_of_support must be a month like \"2026-11\" (YYYY-MM)");
      }
    }
    const YAML::Node releases = value["releases"];
    if (!releases) return absl::OkStatus();
    if (!releases.IsMap()) return YamlError(src, releases, "'releases' must be a mapping");
    for (const auto& rel : releases) {
      SF_ASSIGN_OR_RETURN(Release r, ParseRelease(src, name, rel.first, rel.second));
      if (auto prior = release_origin_.find(r.version); prior != release_origin_.end()) {
        return YamlError(src, rel.first,
                         absl::StrCat("release ", r.version, " is already defined at ",
                                      prior->second, "; a catalog file may add releases, not "
                                      "redefine them"));
      }
      for (const auto& f : r.sources) {
        if (auto prior = source_origin_.find(f.name); prior != source_origin_.end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              f.origin, ": source ", f.name, " is already defined at ", prior->second,
              "; a source name stands for one set of bytes (one sha256)"));
        }
        source_origin_[f.name] = f.origin;
      }
      release_origin_[r.version] = r.origin;
      it->releases.push_back(std::move(r));
    }
    return absl::OkStatus();
  }

  // Sets a series field the first time; a different value later is a
  // conflict naming both places.
  static absl::Status SetOnce(absl::string_view src, const YAML::Node& node,
                              const std::string& series, absl::string_view what, Setting* out) {
    if (!node) return absl::OkStatus();
    SF_ASSIGN_OR_RETURN(std::string value, YamlString(src, node));
    if (!out->value.empty() && out->value != value) {
      return YamlError(src, node,
                       absl::StrCat("series ", series, " already has ", what, " ", out->value,
                                    " (", out->origin, "); a catalog file may not change it to ",
                                    value, " (submit an exact release such as ", series,
                                    ".N to build another)"));
    }
    if (out->value.empty()) *out = Setting{value, YamlWhere(src, node)};
    return absl::OkStatus();
  }

  std::vector<Series> series_;
  std::map<std::string, Setting> pinned_;
  std::map<std::string, Setting> end_of_support_;
  std::map<std::string, std::string> release_origin_;
  std::map<std::string, std::string> source_origin_;
};

constexpr const char* kMonths[] = {"January", "February", "March",     "April",
                                   "May",     "June",     "July",      "August",
                                   "September", "October", "November", "December"};

// "2026-11" → {2026, 11}; false when malformed.
bool ParseMonth(absl::string_view text, int* year, int* month) {
  std::smatch m;
  std::string s(text);
  if (!std::regex_match(s, m, kMonthRe)) return false;
  return absl::SimpleAtoi(m[1].str(), year) && absl::SimpleAtoi(m[2].str(), month);
}

}  // namespace

bool PastEndOfSupport(absl::string_view end_of_support, absl::Time now) {
  int year = 0, month = 0;
  if (!ParseMonth(end_of_support, &year, &month)) return false;
  // Supported through the last day of the month named.
  absl::CivilMonth after = absl::CivilMonth(year, month) + 1;
  return now >= absl::FromCivil(absl::CivilSecond(after), absl::UTCTimeZone());
}

absl::StatusOr<Catalog> Catalog::Parse(absl::string_view yaml, absl::string_view src) {
  Merger merger;
  SF_RETURN_IF_ERROR(merger.AddFile(yaml, src));
  Catalog catalog;
  SF_ASSIGN_OR_RETURN(catalog.series_, std::move(merger).Finish());
  return catalog;
}

absl::StatusOr<Catalog> Catalog::LoadFile(const fs::path& path) { return Load(path, {}); }

absl::StatusOr<Catalog> Catalog::Load(const fs::path& file, const std::vector<fs::path>& dropin_dirs) {
  Merger merger;
  SF_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  SF_RETURN_IF_ERROR(merger.AddFile(text, file.string()));
  for (const auto& dir : dropin_dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      if (fs::exists(dir, ec)) {
        return absl::InvalidArgumentError(
            absl::StrCat("catalog_dirs entry ", dir.string(), " is not a directory"));
      }
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".yaml" && e.is_regular_file(ec)) files.push_back(e.path());
    }
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot list catalog_dirs entry ", dir.string(), ": ", ec.message()));
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      SF_ASSIGN_OR_RETURN(std::string dropin, ReadFile(f));
      SF_RETURN_IF_ERROR(merger.AddFile(dropin, f.string()));
    }
  }
  Catalog catalog;
  SF_ASSIGN_OR_RETURN(catalog.series_, std::move(merger).Finish());
  return catalog;
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

const Series* Catalog::FindSeries(absl::string_view series) const {
  for (const auto& s : series_) {
    if (s.series == series) return &s;
  }
  return nullptr;
}

std::string Catalog::SupportWarning(const Release& release, absl::Time now) const {
  const Series* s = FindSeries(release.series);
  if (!s || !PastEndOfSupport(s->end_of_support, now)) return "";
  int year = 0, month = 0;
  ParseMonth(s->end_of_support, &year, &month);
  std::vector<std::string> supported;
  for (const auto& other : series_) {
    if (other.series > s->series && !PastEndOfSupport(other.end_of_support, now)) {
      supported.push_back(other.series);
    }
  }
  return absl::StrCat("warning: Slurm ", s->series, " reached its end of support in ",
                      kMonths[month - 1], " ", year,
                      " (SchedMD); it still builds, but it gets no more fixes",
                      supported.empty() ? ""
                                        : absl::StrCat("; supported series: ",
                                                       absl::StrJoin(supported, ", ")));
}

}  // namespace sfactory
