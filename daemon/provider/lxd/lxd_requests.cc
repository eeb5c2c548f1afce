// The requests of LxdClient's API (sync, async, operation waits, uploads,
// downloads), built on LxdClient::Perform in lxd_client.cc.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/status.h"
#include "daemon/provider/lxd/lxd_call.h"
#include "daemon/provider/lxd/lxd_client.h"

namespace sfactory::provider::lxd {
namespace {

// An LXD response envelope's metadata (null when it has none).
Json MetadataOf(const Json& envelope) {
  return envelope.contains("metadata") ? envelope["metadata"] : Json();
}

}  // namespace

absl::StatusOr<Json> LxdClient::PerformJson(absl::string_view method, absl::string_view path,
                                            const Json& body, absl::string_view what) {
  Call call;
  call.method = std::string(method);
  call.path = WithProject(path);
  call.what = std::string(what);
  if (!body.is_null()) {
    call.body = body.dump();
    call.has_body = true;
  }
  return Perform(call);
}

absl::StatusOr<Json> LxdClient::Sync(absl::string_view method, absl::string_view path,
                                     const Json& body, absl::string_view what) {
  SF_ASSIGN_OR_RETURN(Json envelope, PerformJson(method, path, body, what));
  return MetadataOf(envelope);
}

namespace {
absl::StatusOr<LxdOperation> OperationFrom(const Json& envelope, absl::string_view what) {
  const Json md = MetadataOf(envelope);
  if (!md.is_object() || !md.contains("id")) {
    return absl::InternalError(absl::StrCat(
        "lxd: ", what, ": expected a background operation, got ", envelope.dump().substr(0, 300)));
  }
  LxdOperation op;
  op.id = md["id"].get<std::string>();
  if (md.contains("metadata") && !md["metadata"].is_null()) op.metadata = md["metadata"];
  return op;
}
}  // namespace

absl::StatusOr<LxdOperation> LxdClient::Async(absl::string_view method, absl::string_view path,
                                              const Json& body, absl::string_view what) {
  SF_ASSIGN_OR_RETURN(Json envelope, PerformJson(method, path, body, what));
  return OperationFrom(envelope, what);
}

absl::StatusOr<LxdOperation> LxdClient::Wait(const std::string& operation_id,
                                             std::chrono::seconds timeout, absl::string_view what,
                                             const std::function<bool()>& cancelled) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cancelled && cancelled()) {
      // Best effort: operations that support it stop; others finish alone.
      Call cancel;
      cancel.method = "DELETE";
      cancel.path = WithProject(absl::StrCat("/1.0/operations/", operation_id));
      cancel.what = absl::StrCat(what, " (cancel)");
      (void)Perform(cancel);
      return absl::CancelledError(absl::StrCat("lxd: ", what, ": cancelled"));
    }
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline -
                                                                 std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("lxd: ", what, ": still running after ",
                                                      timeout.count(), " s (operation ",
                                                      operation_id, ")"));
    }
    long chunk = cancelled ? 1 : std::min<long>(left.count(), 30);
    Call call;
    call.path =
        WithProject(absl::StrCat("/1.0/operations/", operation_id, "/wait?timeout=", chunk));
    call.what = std::string(what);
    call.timeout_seconds = chunk + 30;
    absl::StatusOr<Json> envelope = Perform(call);
    if (!envelope.ok()) return envelope.status();
    const Json& md = (*envelope)["metadata"];
    int status_code = md.value("status_code", 0);
    if (status_code < 200) continue;  // still running: the wait timed out
    std::string err = md.value("err", "");
    if (status_code == 401) return absl::CancelledError(absl::StrCat("lxd: ", what, ": cancelled"));
    if (status_code >= 400 || !err.empty()) {
      return LxdError(status_code >= 400 ? status_code : 500, what, err.empty() ? "failed" : err);
    }
    LxdOperation op;
    op.id = operation_id;
    if (md.contains("metadata") && !md["metadata"].is_null()) op.metadata = md["metadata"];
    return op;
  }
}

absl::StatusOr<LxdOperation> LxdClient::Run(absl::string_view method, absl::string_view path,
                                            const Json& body, std::chrono::seconds timeout,
                                            absl::string_view what,
                                            const std::function<bool()>& cancelled) {
  SF_ASSIGN_OR_RETURN(LxdOperation op, Async(method, path, body, what));
  return Wait(op.id, timeout, what, cancelled);
}

namespace {
absl::StatusOr<uint64_t> FileSize(int fd, const std::filesystem::path& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", path.string()));
  return static_cast<uint64_t>(st.st_size);
}
}  // namespace

absl::StatusOr<Json> LxdClient::PerformUpload(absl::string_view path, const Upload& upload,
                                              absl::string_view what) {
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(upload.source, O_RDONLY | O_CLOEXEC));
  Call call;
  call.method = "POST";
  call.path = WithProject(path);
  call.what = std::string(what);
  call.headers = upload.headers;
  call.headers.push_back("Content-Type: application/octet-stream");
  call.upload_fd = fd.get();
  SF_ASSIGN_OR_RETURN(call.upload_size, FileSize(fd.get(), upload.source));
  call.long_running = true;
  return Perform(call);
}

absl::StatusOr<Json> LxdClient::UploadSync(absl::string_view path, const Upload& upload,
                                           absl::string_view what) {
  SF_ASSIGN_OR_RETURN(Json envelope, PerformUpload(path, upload, what));
  return MetadataOf(envelope);
}

absl::StatusOr<LxdOperation> LxdClient::UploadAsync(absl::string_view path, const Upload& upload,
                                                    absl::string_view what) {
  SF_ASSIGN_OR_RETURN(Json envelope, PerformUpload(path, upload, what));
  return OperationFrom(envelope, what);
}

absl::StatusOr<Json> LxdClient::PostBytes(absl::string_view path, absl::string_view data,
                                          const std::vector<std::string>& headers,
                                          absl::string_view what) {
  Call call;
  call.method = "POST";
  call.path = WithProject(path);
  call.what = std::string(what);
  call.body = std::string(data);
  call.headers = headers;
  call.headers.push_back("Content-Type: application/octet-stream");
  call.has_body = true;
  call.raw_body = true;
  SF_ASSIGN_OR_RETURN(Json envelope, Perform(call));
  return MetadataOf(envelope);
}

absl::Status LxdClient::Download(absl::string_view path,
                                 const std::function<absl::Status(absl::string_view)>& sink,
                                 absl::string_view what) {
  Call call;
  call.path = WithProject(path);
  call.what = std::string(what);
  call.sink = &sink;
  call.long_running = true;
  return Perform(call).status();
}

}  // namespace sfactory::provider::lxd
