// SHA-256 through OpenSSL's EVP interface.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace sfactory {

// Incremental hasher. Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(absl::string_view data);
  // Lower-case hex digest. The hasher must not be used afterwards.
  std::string FinishHex();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string Sha256Hex(absl::string_view data);
absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path);
// Hashes the first `length` bytes of the file (used when resuming a download).
absl::StatusOr<std::string> Sha256FilePrefix(const std::filesystem::path& path, uint64_t length,
                                             Sha256& hasher);

// True when `s` is 64 lower-case hex characters.
bool IsSha256Hex(absl::string_view s);

}  // namespace sfactory
