// The unix socket listener that knows who connected. gRPC C++ does not give
// a service the peer credentials of a unix-socket caller, so sfactoryd
// accepts the connections itself, reads each peer's uid from the kernel
// (SO_PEERCRED), refuses users outside the socket group, and hands each
// accepted fd to the gRPC server (grpc::AddInsecureChannelFromFd). A call
// then shows up with ServerContext::peer() "fd:N" and Lookup(N) says who is
// on the other end.
//
// Why the fd number is safe to key on: gRPC closes a connection's fd only
// when the connection's transport is destroyed, and a call in progress holds
// the transport, so while a handler runs its fd cannot be reused by another
// connection. Lookup() checks anyway that the fd still is the socket that was
// accepted (inode and peer uid), and fails closed otherwise.
//
// Thread-safety: Lookup() may be called from any thread.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/fs.h"
#include "grpcpp/server.h"

namespace sfactory::auth {

struct UnixPeer {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  ino_t inode = 0;  // of the accepted socket
};

struct UnixListenerOptions {
  std::filesystem::path path;
  // Users who may connect besides root and the daemon's own user: members
  // of this group (empty: nobody else). The socket and its directory are
  // given to this group.
  std::string group;
};

class UnixListener {
 public:
  // Creates the socket's directory (0750, the socket group's) when missing —
  // an existing parent must belong to the daemon's user, or this refuses —
  // removes a stale socket (a live one is FailedPrecondition), binds and
  // listens. The socket is 0660, owned by the group.
  static absl::StatusOr<std::unique_ptr<UnixListener>> Bind(const UnixListenerOptions& options);
  ~UnixListener();

  // Starts accepting; every accepted connection goes to `server`.
  void Serve(grpc::Server* server);
  // Stops accepting and removes the socket file. Idempotent.
  void Stop();

  // The peer of the connection a call arrived on, from ServerContext::peer()
  // ("fd:N"). Unauthenticated when the peer string is not one of ours or the
  // fd no longer is the accepted socket.
  absl::StatusOr<UnixPeer> Lookup(absl::string_view grpc_peer) const;

  const std::filesystem::path& path() const { return options_.path; }
  // Connections refused so far (not in the socket group).
  int refused() const;

 private:
  UnixListener(UnixListenerOptions options, Fd listen_fd, Fd wake_fd);
  void AcceptLoop(grpc::Server* server);
  bool Allowed(uid_t uid) const;

  const UnixListenerOptions options_;
  Fd listen_fd_;
  Fd wake_fd_;  // eventfd: Stop() wakes the accept loop
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::map<int, UnixPeer> peers_ ABSL_GUARDED_BY(mu_);
  int refused_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sfactory::auth
