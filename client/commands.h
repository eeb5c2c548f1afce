// The subcommands of `sfactory`. Each one gets its parsed arguments and the
// output streams, and returns a Status that Run() turns into the exit code.
// Only the command table in run.cc lists them.
#pragma once

#include <memory>
#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/connection.h"
#include "client/flags.h"
#include "google/protobuf/message.h"

namespace sfactory::client {

class CommandContext {
 public:
  CommandContext(const ParsedArgs& args, std::ostream& out, std::ostream& err,
                 const ConnectOptions& connect)
      : args_(args), out_(out), err_(err), connect_(connect) {}

  const ParsedArgs& args() const { return args_; }
  // Machine output only: results, or one JSON document with --json.
  std::ostream& out() { return out_; }
  // Everything meant for a person: progress, notes, errors.
  std::ostream& err() { return err_; }
  bool json() const { return args_.Bool("json"); }
  // The daemon at --address / $SFACTORY_ADDRESS / the default socket.
  absl::StatusOr<Connection*> Connect();

 private:
  const ParsedArgs& args_;
  std::ostream& out_;
  std::ostream& err_;
  ConnectOptions connect_;
  std::unique_ptr<Connection> connection_;
};

// Writes the message's JSON document to ctx.out().
absl::Status PrintJson(CommandContext& ctx, const google::protobuf::Message& message);

// commands_builds.cc
absl::Status SubmitCommand(CommandContext& ctx);
absl::Status ListCommand(CommandContext& ctx);
absl::Status StatusCommand(CommandContext& ctx);
absl::Status LogsCommand(CommandContext& ctx);
absl::Status CancelCommand(CommandContext& ctx);
absl::Status FetchCommand(CommandContext& ctx);

// commands_admin.cc
absl::Status InfoCommand(CommandContext& ctx);
absl::Status SourcesAddCommand(CommandContext& ctx);
absl::Status SourcesListCommand(CommandContext& ctx);
absl::Status ImagesListCommand(CommandContext& ctx);
absl::Status CacheUsageCommand(CommandContext& ctx);
absl::Status ImagesRebuildCommand(CommandContext& ctx);
absl::Status ImagesPruneCommand(CommandContext& ctx);

}  // namespace sfactory::client
