// The subcommands of `sfactory`. Each one gets its parsed arguments and the
// output streams, and returns a Status that Run() turns into the exit code.
// Only the command table (command_table.cc) lists them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/connection.h"
#include "client/fetch.h"
#include "client/flags.h"
#include "client/progress.h"
#include "client/settings.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"

namespace sfactory::client {

class CommandContext {
 public:
  // `out_is_terminal`: stdout is a terminal, so log bytes written there
  // have their control characters escaped.
  CommandContext(const ParsedArgs& args, std::ostream& out, std::ostream& err,
                 const ConnectOptions& connect, GetEnv env, bool out_is_terminal,
                 bool err_is_terminal = false)
      : args_(args),
        out_(out),
        err_(err),
        connect_(connect),
        env_(std::move(env)),
        out_is_terminal_(out_is_terminal),
        err_is_terminal_(err_is_terminal) {}

  const ParsedArgs& args() const { return args_; }
  // Machine output only: results, or one JSON document with --json.
  std::ostream& out() { return out_; }
  // Everything meant for a person: progress, notes, errors.
  std::ostream& err() { return err_; }
  bool json() const { return args_.Bool("json"); }
  bool out_is_terminal() const { return out_is_terminal_; }
  bool err_is_terminal() const { return err_is_terminal_; }
  // An environment variable of the client's process (or the test's fake).
  std::optional<std::string> Env(absl::string_view name) const { return env_(name); }
  // The daemon the settings name (settings.h), with their credentials.
  absl::StatusOr<Connection*> Connect();
  // Connects, then makes one call through Connection::Unary (default
  // deadline, retries): `call` gets the connection and a fresh context.
  absl::Status Call(const std::function<grpc::Status(Connection&, grpc::ClientContext&)>& call);

 private:
  const ParsedArgs& args_;
  std::ostream& out_;
  std::ostream& err_;
  ConnectOptions connect_;
  GetEnv env_;
  bool out_is_terminal_;
  bool err_is_terminal_;
  std::unique_ptr<Connection> connection_;
};

// Shared by the commands (commands_common.cc).

// Writes the message's JSON document to ctx.out().
absl::Status PrintJson(CommandContext& ctx, const google::protobuf::Message& message);
// A listing of `rows` items: with --json the whole response; else `none` on
// ctx.err() when there are no rows, or the table `render` returns.
absl::Status PrintListing(CommandContext& ctx, const google::protobuf::Message& response,
                          int rows, absl::string_view none,
                          const std::function<std::string()>& render);
// Writes bytes to `out` at once; INTERNAL when `out` fails.
absl::Status WriteOut(std::ostream& out, absl::string_view data);

// A build's log on its way to stdout: unchanged into a file or a pipe; on a
// terminal with control characters escaped (EscapeControl, common/echo.h),
// so that a log cannot move the cursor or retitle the window. A UTF-8 C1
// control split across two chunks is escaped like an unsplit one.
class LogWriter {
 public:
  LogWriter(std::ostream& out, bool terminal) : out_(out), terminal_(terminal) {}
  absl::Status Write(absl::string_view data);
  // Writes what Write held back (a last byte that could start a C1 control).
  absl::Status Finish();

 private:
  std::ostream& out_;
  bool terminal_;
  std::string held_;
};
absl::StatusOr<v1::Build> GetBuild(Connection& conn, const std::string& id);

// The --progress display the command line asks for, made concrete (auto →
// tty or plain). --json with --progress is a usage error.
absl::StatusOr<ProgressMode> ChosenProgress(CommandContext& ctx);
// Watches `build` from log byte `offset` (to its end with `follow`) through
// a Progress display of `mode`; returns the last Build known, fetched again
// when the watch ended before the build did. `state_lines`: see
// ProgressOptions. With `follow`, Ctrl-C detaches (DetachOnInterrupt).
absl::StatusOr<v1::Build> FollowBuild(CommandContext& ctx, Connection& conn, const v1::Build& build,
                                      uint64_t offset, bool follow, ProgressMode mode,
                                      bool state_lines);
// The JSON list of what FetchArtifacts fetched, and the plain form: one path a line.
google::protobuf::Value FetchedJson(const std::vector<FetchedArtifact>& fetched);
void PrintPaths(std::ostream& out, const std::vector<FetchedArtifact>& fetched);

// commands_submit.cc
absl::Status SubmitCommand(CommandContext& ctx);

// commands_builds.cc
absl::Status ListCommand(CommandContext& ctx);
absl::Status StatusCommand(CommandContext& ctx);
absl::Status CancelCommand(CommandContext& ctx);

// commands_output.cc
absl::Status LogsCommand(CommandContext& ctx);
absl::Status FetchCommand(CommandContext& ctx);

// commands_install.cc
absl::Status InstallCommand(CommandContext& ctx);
// commands_debug.cc
absl::Status DebugCommand(CommandContext& ctx);

// commands_admin.cc
absl::Status InfoCommand(CommandContext& ctx);
absl::Status SourcesAddCommand(CommandContext& ctx);
absl::Status SourcesListCommand(CommandContext& ctx);
absl::Status ImagesListCommand(CommandContext& ctx);
absl::Status CacheUsageCommand(CommandContext& ctx);
absl::Status QueuePauseCommand(CommandContext& ctx);
absl::Status QueueResumeCommand(CommandContext& ctx);
// "PAUSED by alice since ...: reason (...)" for info and submit.
std::string QueuePausedText(const v1::QueueStatus& q);
absl::Status ImagesRebuildCommand(CommandContext& ctx);
absl::Status ImagesPruneCommand(CommandContext& ctx);

// commands_auth.cc
absl::Status WhoAmICommand(CommandContext& ctx);
absl::Status TokensCreateCommand(CommandContext& ctx);
absl::Status TokensListCommand(CommandContext& ctx);
absl::Status TokensRevokeCommand(CommandContext& ctx);
// --expires: "90d", "12h", "30m", "45s" → seconds; "never" → 0.
// INVALID_ARGUMENT for anything else (no unit, zero, negative, > 100 years).
absl::StatusOr<int64_t> ParseExpiry(absl::string_view text);

// completion.cc: `completion <shell>` prints the script; `__complete-builds`
// prints recent build ids for it (2 s deadline, nothing and exit 0 when the
// daemon does not answer, so a TAB never hangs or prints errors).
absl::Status CompletionCommand(CommandContext& ctx);
absl::Status CompleteBuildsCommand(CommandContext& ctx);

}  // namespace sfactory::client
