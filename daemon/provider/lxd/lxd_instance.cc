#include "daemon/provider/lxd/lxd_instance.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/atomic_file.h"
#include "common/fs.h"
#include "common/status.h"

namespace sfactory::provider::lxd {
namespace {

std::string FilesPath(const std::string& instance, absl::string_view path) {
  return absl::StrCat("/1.0/instances/", instance, "/files?path=", UrlEncode(path));
}

Json BaseEnvironment() {
  return Json{{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
              {"LANG", "C.UTF-8"},
              {"HOME", "/root"}};
}

}  // namespace

absl::Status StartInstance(LxdClient& client, const std::string& name,
                           std::chrono::seconds timeout) {
  return client
      .Run("PUT", absl::StrCat("/1.0/instances/", name, "/state"),
           Json{{"action", "start"}, {"timeout", 30}}, timeout,
           absl::StrCat("start instance ", name))
      .status();
}

absl::Status StopInstance(LxdClient& client, const std::string& name,
                          std::chrono::seconds timeout) {
  absl::StatusOr<Json> state = client.Sync("GET", absl::StrCat("/1.0/instances/", name, "/state"),
                                           Json(), absl::StrCat("read state of instance ", name));
  if (!state.ok()) return state.status();
  if (state->value("status", "") == "Stopped") return absl::OkStatus();
  absl::Status s = client
                       .Run("PUT", absl::StrCat("/1.0/instances/", name, "/state"),
                            Json{{"action", "stop"}, {"force", true}, {"timeout", -1}}, timeout,
                            absl::StrCat("stop instance ", name))
                       .status();
  if (!s.ok()) {
    // It may have stopped on its own meanwhile.
    state = client.Sync("GET", absl::StrCat("/1.0/instances/", name, "/state"), Json(),
                        absl::StrCat("read state of instance ", name));
    if (state.ok() && state->value("status", "") == "Stopped") return absl::OkStatus();
  }
  return s;
}

absl::Status DeleteInstance(LxdClient& client, const std::string& name,
                            std::chrono::seconds timeout) {
  absl::Status s = StopInstance(client, name, timeout);
  if (absl::IsNotFound(s)) return absl::OkStatus();
  SF_RETURN_IF_ERROR(s);
  s = client.Run("DELETE", absl::StrCat("/1.0/instances/", name), Json(), timeout,
                 absl::StrCat("delete instance ", name))
          .status();
  if (absl::IsNotFound(s)) return absl::OkStatus();
  return s;
}

absl::StatusOr<int> ExecQuiet(LxdClient& client, const std::string& instance,
                              const std::vector<std::string>& command,
                              std::chrono::seconds timeout) {
  Json body{{"command", command},
            {"environment", BaseEnvironment()},
            {"wait-for-websocket", false},
            {"interactive", false},
            {"record-output", false}};
  std::string what = absl::StrCat("run `", absl::StrJoin(command, " "), "` in instance ", instance);
  SF_ASSIGN_OR_RETURN(LxdOperation op,
                      client.Run("POST", absl::StrCat("/1.0/instances/", instance, "/exec"), body,
                                 timeout, what));
  if (!op.metadata.is_object() || !op.metadata.contains("return")) {
    return absl::InternalError(absl::StrCat("lxd: ", what, ": no exit code in ", op.metadata.dump()));
  }
  return op.metadata["return"].get<int>();
}

absl::Status WaitUntilReady(LxdClient& client, const std::string& instance,
                            std::chrono::seconds timeout, CancelToken* cancel) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  absl::Status last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cancel != nullptr && cancel->cancelled()) {
      return absl::CancelledError(absl::StrCat("lxd: instance ", instance, ": cancelled"));
    }
    absl::StatusOr<int> rc = ExecQuiet(client, instance, {"true"}, std::chrono::seconds(30));
    if (rc.ok() && *rc == 0) return absl::OkStatus();
    last = rc.ok() ? absl::InternalError(absl::StrCat("`true` exited with ", *rc)) : rc.status();
    if (absl::IsUnavailable(last) || absl::IsNotFound(last)) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("lxd: instance ", instance,
                                                  " does not accept commands after ",
                                                  timeout.count(), " s: ", last.message()));
}

absl::StatusOr<int> ExecStreaming(LxdClient& client, const std::string& instance,
                                  const StreamingExec& exec, OutputSink& sink,
                                  CancelToken* cancel, const std::function<void()>& on_cancel,
                                  std::chrono::seconds operation_timeout) {
  const std::string what = absl::StrCat(exec.what, " in instance ", instance);
  Json env = BaseEnvironment();
  for (const auto& [k, v] : exec.environment) env[k] = v;
  Json body{{"command", exec.command},  {"environment", env},   {"cwd", exec.cwd},
            {"wait-for-websocket", true}, {"interactive", false}, {"record-output", false},
            {"user", 0},                 {"group", 0}};
  SF_ASSIGN_OR_RETURN(LxdOperation op,
                      client.Async("POST", absl::StrCat("/1.0/instances/", instance, "/exec"),
                                   body, absl::StrCat("start ", what)));
  const Json fds = op.metadata.is_object() ? op.metadata.value("fds", Json()) : Json();
  if (!fds.is_object() || !fds.contains("1") || !fds.contains("2") || !fds.contains("control")) {
    return absl::InternalError(
        absl::StrCat("lxd: start ", what, ": no websocket secrets in ", op.metadata.dump()));
  }
  auto open = [&](const char* fd) {
    return client.OpenWebSocket(
        absl::StrCat("/1.0/operations/", op.id, "/websocket?secret=", fds[fd].get<std::string>()),
        absl::StrCat("attach to ", what, " (fd ", fd, ")"));
  };
  // LXD starts the command once every channel is attached.
  SF_ASSIGN_OR_RETURN(std::unique_ptr<WebSocket> control, open("control"));
  std::unique_ptr<WebSocket> in;
  if (fds.contains("0")) {
    SF_ASSIGN_OR_RETURN(in, open("0"));
  }
  SF_ASSIGN_OR_RETURN(std::unique_ptr<WebSocket> out, open("1"));
  SF_ASSIGN_OR_RETURN(std::unique_ptr<WebSocket> err, open("2"));
  // The command reads nothing: end its stdin at once.
  if (in != nullptr) (void)in->SendClose();

  // Frames from the websockets go through the same pump as a local child's
  // pipe; it also wakes the loop when `cancel` fires.
  OutputPump pump(WriteTo(sink), {Framing::kChunks, cancel});
  auto deliver_out = [&pump](absl::string_view bytes) { pump.Feed(1, bytes); };
  auto deliver_err = [&pump](absl::string_view bytes) { pump.Feed(2, bytes); };
  auto ignore = [](absl::string_view) {};
  bool cancelling = false;
  std::chrono::steady_clock::time_point cancel_deadline;
  absl::Status stream_error;
  while (!(out->finished() && err->finished())) {
    // A finished stream's socket stays readable (EOF): leave it out.
    auto watch = [](const WebSocket& ws) { return ws.finished() ? -1 : ws.fd(); };
    pollfd pfds[3] = {
        {watch(*out), POLLIN, 0}, {watch(*err), POLLIN, 0}, {watch(*control), POLLIN, 0}};
    SF_RETURN_IF_ERROR(pump.Poll(absl::Milliseconds(200), absl::MakeSpan(pfds)));
    if (!cancelling && pump.cancelled()) {
      cancelling = true;
      cancel_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      (void)control->SendText(Json{{"command", "signal"}, {"signal", 9}}.dump());
      if (on_cancel) on_cancel();
    }
    if (cancelling && std::chrono::steady_clock::now() > cancel_deadline) break;
    // Pump every stream each round: TLS may hold bytes that poll() misses.
    if (!out->finished()) {
      if (absl::Status s = out->Pump(deliver_out); !s.ok()) stream_error = s;
    }
    if (!err->finished()) {
      if (absl::Status s = err->Pump(deliver_err); !s.ok()) stream_error = s;
    }
    if (!control->finished()) (void)control->Pump(ignore);
    if (!stream_error.ok() && !cancelling) break;
  }
  pump.Flush();
  if (cancelling) return absl::CancelledError(absl::StrCat("lxd: ", what, ": cancelled"));
  if (!stream_error.ok()) {
    return absl::UnavailableError(
        absl::StrCat("lxd: ", what, ": output stream broke (is LXD still running?): ",
                     stream_error.message()));
  }
  SF_ASSIGN_OR_RETURN(LxdOperation done,
                      client.Wait(op.id, operation_timeout, absl::StrCat("wait for ", what)));
  if (!done.metadata.is_object() || !done.metadata.contains("return")) {
    return absl::InternalError(
        absl::StrCat("lxd: ", what, ": no exit code in ", done.metadata.dump()));
  }
  return done.metadata["return"].get<int>();
}

absl::Status MakeInstanceDirs(LxdClient& client, const std::string& instance,
                              const std::string& path) {
  std::string prefix;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    absl::StrAppend(&prefix, "/", part);
    SF_RETURN_IF_ERROR(client
                           .PostBytes(FilesPath(instance, prefix), "",
                                      {"X-LXD-type: directory", "X-LXD-mode: 0755",
                                       "X-LXD-uid: 0", "X-LXD-gid: 0"},
                                      absl::StrCat("create directory ", prefix, " in instance ",
                                                   instance))
                           .status());
  }
  return absl::OkStatus();
}

namespace {
std::vector<std::string> FileHeaders(int mode) {
  return {"X-LXD-type: file", absl::StrFormat("X-LXD-mode: %04o", mode), "X-LXD-uid: 0",
          "X-LXD-gid: 0", "X-LXD-write: overwrite"};
}
}  // namespace

absl::Status PushFileTo(LxdClient& client, const std::string& instance,
                        const std::filesystem::path& host_path, const std::string& instance_path,
                        int mode) {
  LxdClient::Upload upload{host_path, FileHeaders(mode)};
  return client
      .UploadSync(FilesPath(instance, instance_path), upload,
                  absl::StrCat("push ", host_path.string(), " to ", instance, ":", instance_path))
      .status();
}

absl::Status PushBytesTo(LxdClient& client, const std::string& instance, absl::string_view data,
                         const std::string& instance_path, int mode) {
  return client
      .PostBytes(FilesPath(instance, instance_path), data, FileHeaders(mode),
                 absl::StrCat("write ", instance, ":", instance_path))
      .status();
}

absl::Status PullFileFrom(LxdClient& client, const std::string& instance,
                          const std::string& instance_path,
                          const std::filesystem::path& host_path) {
  // 0600, as the mkstemp() file it replaces.
  SF_ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(host_path, {.mode = 0600}));
  SF_RETURN_IF_ERROR(client.Download(
      FilesPath(instance, instance_path), [&](absl::string_view bytes) { return file.Append(bytes); },
      absl::StrCat("pull ", instance, ":", instance_path)));
  return file.Commit();
}

LxdInstance::LxdInstance(LxdClient& client, std::string name, InstanceLayout layout,
                         std::chrono::seconds operation_timeout)
    : client_(client),
      name_(std::move(name)),
      layout_(std::move(layout)),
      operation_timeout_(operation_timeout) {}

absl::StatusOr<int> LxdInstance::Exec(const ExecRequest& request, OutputSink& sink,
                                      CancelToken& cancel) {
  int n;
  {
    absl::MutexLock lock(&mu_);
    n = ++phases_run_;
  }
  std::string phase;
  for (char c : request.phase) {
    phase.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_');
  }
  std::string dir = absl::StrCat(layout_.work, "/.phases");
  std::string script = absl::StrFormat("%s/%02d-%s.sh", dir, n, phase);
  SF_RETURN_IF_ERROR(PushBytesTo(client_, name_, request.script, script, 0755));

  StreamingExec exec;
  exec.command = {"bash", "-eo", "pipefail", script};
  exec.cwd = layout_.work;
  exec.what = absl::StrCat("phase ", request.phase);
  // A private TMPDIR: right after boot, systemd-tmpfiles may still be
  // cleaning /tmp under the first phase (seen as vanishing cc*.s files).
  std::string tmp = absl::StrCat(layout_.work, "/.tmp");
  if (n == 1) SF_RETURN_IF_ERROR(MakeInstanceDirs(client_, name_, tmp));
  exec.environment["TMPDIR"] = tmp;
  for (const std::string& kv : request.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("environment entry '", kv, "' is not KEY=value"));
    }
    exec.environment[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto stop = [this] { (void)StopInstance(client_, name_, operation_timeout_); };
  return ExecStreaming(client_, name_, exec, sink, &cancel, stop, operation_timeout_);
}

absl::Status LxdInstance::PushFile(const std::filesystem::path& host_path,
                                   const std::string& instance_path, int mode) {
  std::string parent = std::filesystem::path(instance_path).parent_path().string();
  bool known;
  {
    absl::MutexLock lock(&mu_);
    known = dirs_made_.count(parent) > 0;
  }
  if (!known && !parent.empty() && parent != "/") {
    SF_RETURN_IF_ERROR(MakeInstanceDirs(client_, name_, parent));
    absl::MutexLock lock(&mu_);
    dirs_made_.insert(parent);
  }
  return PushFileTo(client_, name_, host_path, instance_path, mode);
}

absl::Status LxdInstance::PullFile(const std::string& instance_path,
                                   const std::filesystem::path& host_path) {
  return PullFileFrom(client_, name_, instance_path, host_path);
}

}  // namespace sfactory::provider::lxd
