#include "common/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "common/fs.h"
#include "common/status.h"

namespace sfactory {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(absl::string_view data) {
  EVP_DigestUpdate(ctx_->md, data.data(), data.size());
}

std::string Sha256::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, digest, &len);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string Sha256Hex(absl::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.FinishHex();
}

absl::StatusOr<std::string> Sha256FilePrefix(const std::filesystem::path& path, uint64_t length,
                                             Sha256& hasher) {
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_RDONLY));
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  while (done < length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - done));
    SF_ASSIGN_OR_RETURN(size_t n, PreadFull(fd.get(), buf.data(), want, done));
    if (n == 0) break;
    hasher.Update(absl::string_view(buf.data(), n));
    done += n;
  }
  if (done != length) return absl::DataLossError(path.string() + " is shorter than expected");
  return std::string();
}

absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return ErrnoStatus(ec.value(), "stat " + path.string());
  Sha256 hasher;
  SF_RETURN_IF_ERROR(Sha256FilePrefix(path, size, hasher).status());
  return hasher.FinishHex();
}

bool IsSha256Hex(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace sfactory
