// The catalog of Slurm release series, their pinned patch releases and the
// source tarballs each release can be built from. It is data: the built-in
// templates/catalog.yaml (an operator may point the daemon at another file)
// plus drop-in files (catalog_dirs, e.g. /etc/sfactory/catalog.d/*.yaml)
// that add series and releases without a new sfactory release.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sfactory {

struct SourceFile {
  // File name in the source cache, e.g. "slurm-24-11-7-1.tar.gz".
  std::string name;
  // Expected sha256 (64 lower-case hex digits); every catalog source has one.
  std::string sha256;
  // Top-level directory inside the tarball.
  std::string top_dir;
  // Where to download it, tried in order.
  std::vector<std::string> urls;
  // "file:line" of its definition.
  std::string origin;
};

struct Release {
  std::string version;  // "24.11.7"
  std::string series;   // "24.11"
  // In order of preference; any one of them is enough.
  std::vector<SourceFile> sources;
  // sha256 over this entry's canonical text: a change to it changes the
  // digest of every build that uses it.
  std::string digest;
  // "file:line" of its definition: the built-in catalog or a drop-in.
  std::string origin;
};

struct Series {
  std::string series;  // "24.11"
  std::string pinned;  // "24.11.7"
  // "YYYY-MM": the last month SchedMD supports the series (its
  // doc/html/upgrades.shtml); empty when the catalog does not say.
  std::string end_of_support;
  std::vector<Release> releases;
  std::string origin;  // "file:line" of the series' first definition
};

class Catalog {
 public:
  // One complete catalog file: every series has `pinned` among its releases.
  static absl::StatusOr<Catalog> Parse(absl::string_view yaml, absl::string_view source);
  static absl::StatusOr<Catalog> LoadFile(const std::filesystem::path& path);

  // The catalog file, then every *.yaml file of each drop-in directory (in
  // name order; a directory that does not exist is skipped). A drop-in may
  // add series (with `pinned`) and add releases to any series. Redefining
  // what an earlier file defined (a release, a source name, a series'
  // pinned release or end of support) is InvalidArgument naming both files
  // and lines. Every error names the file and line.
  static absl::StatusOr<Catalog> Load(const std::filesystem::path& file,
                                      const std::vector<std::filesystem::path>& dropin_dirs);

  // "24.11" → the pinned release; "24.11.7" → that release. An unknown
  // version is NotFound with the list of known series in the message.
  absl::StatusOr<const Release*> Resolve(absl::string_view version) const;

  // The catalog's knowledge of a source file by name, or nullptr.
  const SourceFile* FindSource(absl::string_view name) const;

  // The series a release belongs to, or nullptr.
  const Series* FindSeries(absl::string_view series) const;

  // One line, for the submitter and the build log, when `release`'s series
  // is past its end of support at `now` (after the last day of the month
  // named); empty otherwise. A past series still builds.
  std::string SupportWarning(const Release& release, absl::Time now) const;

  // Sorted by series.
  const std::vector<Series>& series() const { return series_; }

 private:
  std::vector<Series> series_;
};

// Whether `end_of_support` ("YYYY-MM") has passed at `now` (UTC).
bool PastEndOfSupport(absl::string_view end_of_support, absl::Time now);

}  // namespace sfactory
