// Downloading a build's artifacts (and debug bundle): resumable and
// sha256-checked.
//
// Each artifact is written to `<dir>/<name>.part`, then verified (size and
// sha256 against the digest the daemon announced in the first chunk) and
// renamed to `<dir>/<name>` after fsync. A .part left by an interrupted run
// is resumed after re-hashing what it holds; a broken stream is re-opened
// from the last byte written. A final file that already has the right size
// and digest is kept as is ("already present"). On a digest or size mismatch
// nothing is kept: the .part is deleted and the result is DATA_LOSS.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/connection.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::client {

struct FetchedArtifact {
  std::string name;
  std::filesystem::path path;  // the final file
  std::string sha256;
  uint64_t size = 0;
  bool already_present = false;
  uint64_t resumed_from = 0;   // bytes taken from an earlier .part
};

// Told how a download advances, to draw a meter (progress.h TransferMeter).
class FetchMeter {
 public:
  virtual ~FetchMeter() = default;
  // `have` of `artifact.size()` bytes are in the .part now (resumed bytes included).
  virtual void Advance(const v1::Artifact& artifact, uint64_t have) = 0;
  // Before a line is printed where the meter draws.
  virtual void Clear() = 0;
};

// Fetches `build`'s artifacts (only the one called `only_name` when it is not
// empty: NOT_FOUND when the build has none of that name) into `dir`, creating
// it. Writes one line per artifact to `progress`. FAILED_PRECONDITION when the
// build has no artifacts yet.
absl::StatusOr<std::vector<FetchedArtifact>> FetchArtifacts(Connection& connection,
                                                            const v1::Build& build,
                                                            const std::string& only_name,
                                                            const std::filesystem::path& dir,
                                                            std::ostream& progress,
                                                            FetchMeter* meter = nullptr);

// Opens the stream of one file from byte `offset` (FetchArtifact,
// GetDebugBundle: the first message carries the file's Artifact header).
using OpenFetchStream =
    std::function<std::unique_ptr<grpc::ClientReaderInterface<v1::FetchArtifactResponse>>(
        grpc::ClientContext& context, uint64_t offset)>;

// Downloads the file `expected` describes (its sha256 and size) from the
// streams `open` gives to `path`, as above: through `path`.part, resumed,
// checked, renamed. `path`'s directory must exist.
absl::StatusOr<FetchedArtifact> FetchToFile(Connection& connection, const v1::Artifact& expected,
                                            const std::filesystem::path& path,
                                            const OpenFetchStream& open,
                                            FetchMeter* meter = nullptr);

// Fetches one artifact as listed in its Build.
absl::StatusOr<FetchedArtifact> FetchArtifact(Connection& connection,
                                              const std::string& build_id,
                                              const v1::Artifact& expected,
                                              const std::filesystem::path& dir,
                                              FetchMeter* meter = nullptr);

}  // namespace sfactory::client
