// The catalog of Slurm release series, their pinned patch releases and the
// source tarballs each release can be built from. It is data
// (templates/catalog.yaml); an operator may point the daemon at another file.
#pragma once

#include <filesystem>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace sfactory {

struct SourceFile {
  // File name in the source cache, e.g. "slurm-24.11.5.tar.bz2".
  std::string name;
  // Expected sha256; empty when the catalog does not know it (then the first
  // copy that enters the cache is trusted, and the log says so).
  std::string sha256;
  // Top-level directory inside the tarball.
  std::string top_dir;
  // Where to download it, tried in order.
  std::vector<std::string> urls;
};

struct Release {
  std::string version;  // "24.11.5"
  std::string series;   // "24.11"
  // In order of preference; any one of them is enough.
  std::vector<SourceFile> sources;
  // sha256 over this entry's canonical text: a change to it changes the
  // digest of every build that uses it.
  std::string digest;
};

struct Series {
  std::string series;  // "24.11"
  std::string pinned;  // "24.11.5"
  std::vector<Release> releases;
};

class Catalog {
 public:
  static absl::StatusOr<Catalog> Parse(absl::string_view yaml, absl::string_view source);
  static absl::StatusOr<Catalog> LoadFile(const std::filesystem::path& path);

  // "24.11" → the pinned release; "24.11.5" → that release. An unknown
  // version is NotFound with the list of known series in the message.
  absl::StatusOr<const Release*> Resolve(absl::string_view version) const;

  // The catalog's knowledge of a source file by name, or nullptr.
  const SourceFile* FindSource(absl::string_view name) const;

  const std::vector<Series>& series() const { return series_; }

 private:
  std::vector<Series> series_;
};

}  // namespace sfactory
