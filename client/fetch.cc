#include "client/fetch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/output.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/status.h"

namespace sfactory::client {
namespace fs = std::filesystem;
namespace {

// Artifact names come from the daemon; they must not lead out of `dir`.
absl::Status CheckArtifact(const v1::Artifact& a) {
  const std::string& n = a.name();
  if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos ||
      n.find('\0') != std::string::npos) {
    return absl::InternalError(absl::StrCat("the daemon listed an unusable artifact name \"", n,
                                            "\""));
  }
  return absl::OkStatus();  // FetchToFile checks the sha256
}

// True when `path` exists with exactly the expected size and digest.
absl::StatusOr<bool> IsComplete(const fs::path& path, const v1::Artifact& expected) {
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  if (ec) return false;
  if (size != expected.size()) return false;
  SF_ASSIGN_OR_RETURN(std::string digest, Sha256File(path));
  return digest == expected.sha256();
}

// Opens `part` for writing at its end, feeding what it already holds into
// `hasher`. A .part longer than the artifact cannot be a prefix of it and is
// started afresh. Returns the number of bytes kept. O_NOFOLLOW: a symlink
// planted as the .part (in a shared directory) is refused, not written
// through; everything after the open goes through the descriptor.
absl::StatusOr<uint64_t> OpenPart(const fs::path& part, uint64_t artifact_size, Fd& fd,
                                  Sha256& hasher) {
  absl::StatusOr<Fd> opened = OpenFile(part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  struct stat st;
  if (!opened.ok() && ::lstat(part.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        part.string(), " is a symbolic link; sfactory does not write through one. Remove it (rm ",
        part.string(), ") or fetch into another directory with -o DIR"));
  }
  SF_ASSIGN_OR_RETURN(fd, std::move(opened));
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", part.string()));
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        part.string(), " is not a regular file; remove it or fetch into another directory"));
  }
  uint64_t have = static_cast<uint64_t>(st.st_size);
  if (have > artifact_size) have = 0;
  if (::ftruncate(fd.get(), static_cast<off_t>(have)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("truncate ", part.string()));
  }
  std::vector<char> buf(1 << 16);
  for (uint64_t off = 0; off < have;) {
    SF_ASSIGN_OR_RETURN(
        size_t n, PreadFull(fd.get(), buf.data(), std::min<uint64_t>(buf.size(), have - off), off));
    if (n == 0) return absl::InternalError(absl::StrCat(part.string(), " shrank while read"));
    hasher.Update(absl::string_view(buf.data(), n));
    off += n;
  }
  if (::lseek(fd.get(), static_cast<off_t>(have), SEEK_SET) < 0) {
    return ErrnoStatus(errno, absl::StrCat("seek ", part.string()));
  }
  return have;
}

// Streams the artifact from byte `have` into `fd` until it is complete,
// re-opening the stream when it breaks. `have` and `hasher` follow every
// byte written, so a failed return leaves a valid prefix in the .part.
absl::Status Download(Connection& connection, const OpenFetchStream& open,
                      const v1::Artifact& expected, int fd, Sha256& hasher, uint64_t& have,
                      FetchMeter* meter) {
  Backoff backoff(connection.options().retry);
  int failures = 0;
  while (have < expected.size()) {
    grpc::ClientContext context;  // no deadline: artifacts may be large
    PrepareContext(context, absl::InfiniteDuration());
    std::unique_ptr<grpc::ClientReaderInterface<v1::FetchArtifactResponse>> reader =
        open(context, have);

    bool first = true;
    bool progressed = false;
    absl::Status local;
    v1::FetchArtifactResponse chunk;
    while (local.ok() && reader->Read(&chunk)) {
      if (first) {
        first = false;
        if (!chunk.has_artifact()) {
          local = absl::InternalError(absl::StrCat(
              "the daemon's first chunk of ", expected.name(), " carries no artifact header"));
          break;
        }
        const v1::Artifact& header = chunk.artifact();
        if (header.sha256() != expected.sha256() || header.size() != expected.size()) {
          local = absl::DataLossError(absl::StrCat(
              expected.name(), ": the daemon announced sha256 ", header.sha256(), " and ",
              header.size(), " bytes, but the build lists sha256 ", expected.sha256(), " and ",
              expected.size(), " bytes"));
          break;
        }
      }
      const std::string& data = chunk.data();
      if (data.empty()) continue;
      if (chunk.offset() != have) {
        local = absl::InternalError(absl::StrCat("the daemon sent bytes of ", expected.name(),
                                                 " from offset ", chunk.offset(),
                                                 " where ", have, " was expected"));
      } else if (data.size() > expected.size() - have) {
        local = absl::DataLossError(absl::StrCat(expected.name(), " is longer than the ",
                                                 expected.size(), " bytes announced"));
      } else {
        local = WriteAll(fd, data);
        if (local.ok()) {
          hasher.Update(data);
          have += data.size();
          progressed = true;
          if (meter != nullptr) meter->Advance(expected, have);
        }
      }
    }
    if (!local.ok()) {
      context.TryCancel();
      reader->Finish();
      return local;
    }
    grpc::Status status = reader->Finish();
    if (status.ok() && have == expected.size()) break;
    if (!status.ok() && !IsBrokenStream(status)) return connection.Explain(status);
    if (progressed) {
      failures = 0;
      backoff.Reset();
    }
    if (++failures >= connection.options().retry.attempts) {
      if (!status.ok()) return connection.Explain(status);
      return absl::InternalError(absl::StrCat("the daemon keeps ending the stream of ",
                                              expected.name(), " at byte ", have, " of ",
                                              expected.size()));
    }
    backoff.Wait();
    SF_RETURN_IF_ERROR(connection.WaitReachable(connection.options().reconnect_timeout, 0));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FetchedArtifact> FetchArtifact(Connection& connection, const std::string& build_id,
                                              const v1::Artifact& expected, const fs::path& dir,
                                              FetchMeter* meter) {
  SF_RETURN_IF_ERROR(CheckArtifact(expected));
  return FetchToFile(connection, expected, dir / expected.name(),
                     [&](grpc::ClientContext& context, uint64_t offset) {
                       v1::FetchArtifactRequest request;
                       request.set_build_id(build_id);
                       request.set_name(expected.name());
                       request.set_read_offset(offset);
                       return connection.builds().FetchArtifact(&context, request);
                     },
                     meter);
}

absl::StatusOr<FetchedArtifact> FetchToFile(Connection& connection, const v1::Artifact& expected,
                                            const fs::path& path, const OpenFetchStream& open,
                                            FetchMeter* meter) {
  if (!IsSha256Hex(expected.sha256())) {
    return absl::InternalError(
        absl::StrCat("the daemon listed artifact ", expected.name(), " without a valid sha256"));
  }
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  FetchedArtifact result;
  result.name = expected.name();
  result.path = path;
  result.sha256 = expected.sha256();
  result.size = expected.size();
  {
    SF_ASSIGN_OR_RETURN(bool present, IsComplete(result.path, expected));
    if (present) {
      result.already_present = true;
      return result;
    }
  }
  fs::path part = result.path;
  part += ".part";
  // A resumed .part may hold a prefix of a different file of the same name;
  // when the digest does not match, the download starts once more from zero.
  for (int round = 0;; ++round) {
    Fd fd;
    Sha256 hasher;
    SF_ASSIGN_OR_RETURN(uint64_t have, OpenPart(part, expected.size(), fd, hasher));
    result.resumed_from = have;
    {
      SF_ASSIGN_OR_RETURN(uint64_t free, FreeBytes(dir));
      if (free < expected.size() - have) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "not enough space in ", dir.string(), " for ", expected.name(), ": need ",
            FormatSize(expected.size() - have), ", have ", FormatSize(free)));
      }
    }
    if (absl::Status s = Download(connection, open, expected, fd.get(), hasher, have, meter);
        !s.ok()) {
      // An empty .part (refused at once, e.g. PERMISSION_DENIED) resumes nothing.
      fd.Reset();
      if (have == 0) ::unlink(part.c_str());
      return s;
    }
    std::string digest = hasher.FinishHex();
    if (digest == expected.sha256()) {
      SF_RETURN_IF_ERROR(CommitFile(part, result.path));
      return result;
    }
    fd.Reset();
    ::unlink(part.c_str());
    if (result.resumed_from == 0 || round > 0) {
      return absl::DataLossError(absl::StrCat(
          expected.name(), ": sha256 mismatch: expected ", expected.sha256(), ", got ", digest,
          "; the download was removed"));
    }
  }
}

absl::StatusOr<std::vector<FetchedArtifact>> FetchArtifacts(Connection& connection,
                                                            const v1::Build& build,
                                                            const std::string& only_name,
                                                            const fs::path& dir,
                                                            std::ostream& progress,
                                                            FetchMeter* meter) {
  if (build.artifacts().empty()) {
    if (build.state() != v1::BUILD_STATE_SUCCEEDED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "build ", build.id(), " is ", StateName(build.state()), "; it has no artifacts",
          IsTerminal(build.state()) ? "" : " yet"));
    }
    return absl::FailedPreconditionError(absl::StrCat("build ", build.id(), " has no artifacts"));
  }
  std::vector<const v1::Artifact*> wanted;
  for (const v1::Artifact& a : build.artifacts()) {
    if (only_name.empty() || a.name() == only_name) wanted.push_back(&a);
  }
  if (wanted.empty()) {
    std::string names;
    for (const v1::Artifact& a : build.artifacts()) absl::StrAppend(&names, "\n  ", a.name());
    return absl::NotFoundError(absl::StrCat("build ", build.id(), " has no artifact named \"",
                                            only_name, "\"; it has:", names));
  }
  SF_RETURN_IF_ERROR(MakeDirs(dir));
  std::vector<FetchedArtifact> fetched;
  for (const v1::Artifact* a : wanted) {
    absl::StatusOr<FetchedArtifact> got = FetchArtifact(connection, build.id(), *a, dir, meter);
    if (meter != nullptr) meter->Clear();
    SF_ASSIGN_OR_RETURN(FetchedArtifact f, std::move(got));
    std::string how = f.already_present ? "already present"
                      : f.resumed_from > 0
                          ? absl::StrCat("fetched, resumed at ", FormatSize(f.resumed_from))
                          : "fetched";
    progress << f.name << "  " << FormatSize(f.size) << "  " << how << ", sha256 ok\n"
             << std::flush;
    fetched.push_back(std::move(f));
  }
  return fetched;
}

}  // namespace sfactory::client
