#include "daemon/auth/unix_listener.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/auth/admins.h"
#include "grpcpp/server_posix.h"

namespace sfactory::auth {
namespace fs = std::filesystem;
namespace {

absl::StatusOr<sockaddr_un> Address(const fs::path& path) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  const std::string s = path.string();
  if (s.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long (", s.size(),
                                                   " bytes, at most ", sizeof addr.sun_path - 1,
                                                   "): ", s));
  }
  std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
  return addr;
}

std::optional<gid_t> GroupId(const std::string& name) {
  if (name.empty()) return std::nullopt;
  std::vector<char> buf(16384);
  struct group gr;
  struct group* found = nullptr;
  while (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (found == nullptr) return std::nullopt;
  return gr.gr_gid;
}

// The socket's directory: made 0750 and given to the group when this
// creates it; an existing one must be the daemon's and is left as it is.
absl::Status PrepareDirectory(const fs::path& dir, std::optional<gid_t> gid) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(dir.string(), " is not a directory"));
    }
    if (st.st_uid != ::geteuid()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the socket's directory ", dir.string(), " belongs to uid ", st.st_uid,
          ", not to sfactoryd's user (uid ", ::geteuid(),
          "): put the socket in a directory of its own that sfactoryd owns (e.g. /run/sfactory)"));
    }
    return absl::OkStatus();
  }
  if (errno != ENOENT) return ErrnoStatus(errno, absl::StrCat("stat ", dir.string()));
  SF_RETURN_IF_ERROR(MakeDirs(dir.parent_path()));
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("create ", dir.string()));
  }
  ::chmod(dir.c_str(), gid ? 0750 : 0700);
  if (gid && ::chown(dir.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    return ErrnoStatus(errno, absl::StrCat("give ", dir.string(), " to the socket group"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<UnixListener>> UnixListener::Bind(const UnixListenerOptions& options) {
  std::optional<gid_t> gid = GroupId(options.group);
  if (!options.group.empty() && !gid) {
    spdlog::warn("socket_group '{}' does not exist: only root and sfactoryd's own user can "
                 "connect to {}", options.group, options.path.string());
  }
  SF_RETURN_IF_ERROR(PrepareDirectory(options.path.parent_path(), gid));
  SF_ASSIGN_OR_RETURN(sockaddr_un addr, Address(options.path));

  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket");
  struct stat st;
  if (::lstat(options.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(
          options.path.string(), " exists and is not a socket; remove it or listen elsewhere"));
    }
    Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "another process is listening on ", options.path.string(),
          "; stop it or use another listen address"));
    }
    ::unlink(options.path.c_str());  // stale: its daemon is gone
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bind ", options.path.string()));
  }
  // Mode and group before listen(): nobody can connect in between.
  if (::chmod(options.path.c_str(), gid ? 0660 : 0600) != 0 ||
      (gid && ::chown(options.path.c_str(), static_cast<uid_t>(-1), *gid) != 0)) {
    absl::Status s = ErrnoStatus(errno, absl::StrCat("set the mode of ", options.path.string()));
    ::unlink(options.path.c_str());
    return s;
  }
  if (::listen(fd.get(), 128) != 0) {
    absl::Status s = ErrnoStatus(errno, absl::StrCat("listen on ", options.path.string()));
    ::unlink(options.path.c_str());
    return s;
  }
  Fd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return ErrnoStatus(errno, "eventfd");
  return std::unique_ptr<UnixListener>(new UnixListener(options, std::move(fd), std::move(wake)));
}

UnixListener::UnixListener(UnixListenerOptions options, Fd listen_fd, Fd wake_fd)
    : options_(std::move(options)), listen_fd_(std::move(listen_fd)), wake_fd_(std::move(wake_fd)) {}

UnixListener::~UnixListener() { Stop(); }

void UnixListener::Serve(grpc::Server* server) {
  thread_ = std::thread([this, server] { AcceptLoop(server); });
}

void UnixListener::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::unlink(options_.path.c_str());
}

int UnixListener::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

bool UnixListener::Allowed(uid_t uid) const {
  if (uid == 0 || uid == ::geteuid()) return true;
  return !options_.group.empty() && InGroup(uid, options_.group);
}

void UnixListener::AcceptLoop(grpc::Server* server) {
  for (;;) {
    pollfd pfds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (::poll(pfds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("unix socket {}: poll: {}", options_.path.string(), std::strerror(errno));
      return;
    }
    if (pfds[1].revents != 0) return;
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      spdlog::error("unix socket {}: accept: {}", options_.path.string(), std::strerror(errno));
      if (errno == EMFILE || errno == ENFILE) ::usleep(100 * 1000);  // let fds free up
      continue;
    }
    struct ucred cred = {};
    socklen_t len = sizeof cred;
    struct stat st;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || ::fstat(fd, &st) != 0) {
      spdlog::warn("unix socket: cannot read the peer's credentials: {}", std::strerror(errno));
      ::close(fd);
      continue;
    }
    if (!Allowed(cred.uid)) {
      spdlog::warn("refused a connection from {} (uid {}, pid {}): not a member of socket_group '{}'",
                   UserName(cred.uid), cred.uid, cred.pid, options_.group);
      {
        absl::MutexLock lock(&mu_);
        ++refused_;
      }
      ::close(fd);
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      peers_[fd] = UnixPeer{cred.uid, cred.gid, cred.pid, st.st_ino};
    }
    grpc::AddInsecureChannelFromFd(server, fd);  // gRPC owns fd from here
  }
}

absl::StatusOr<UnixPeer> UnixListener::Lookup(absl::string_view grpc_peer) const {
  absl::string_view rest = grpc_peer;
  int fd = -1;
  if (!absl::ConsumePrefix(&rest, "fd:") || !absl::SimpleAtoi(rest, &fd) || fd < 0) {
    return absl::UnauthenticatedError("the call did not come through sfactoryd's unix socket");
  }
  UnixPeer peer;
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(fd);
    if (it == peers_.end()) return absl::UnauthenticatedError("unknown unix connection");
    peer = it->second;
  }
  struct ucred cred = {};
  socklen_t len = sizeof cred;
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_ino != peer.inode ||
      ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != peer.uid) {
    return absl::UnauthenticatedError("the unix connection changed while the call was made; retry");
  }
  return peer;
}

}  // namespace sfactory::auth
