// logs, fetch: what a build wrote and what it made.
#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/fetch.h"
#include "client/output.h"
#include "client/watch.h"
#include "common/status.h"

namespace sfactory::client {

absl::Status LogsCommand(CommandContext& ctx) {
  const ParsedArgs& a = ctx.args();
  int64_t offset = a.Int("offset", 0);
  if (offset < 0) return UsageError("--offset must not be negative");
  const std::string id = a.positional()[0];
  SF_ASSIGN_OR_RETURN(ProgressMode mode, ChosenProgress(ctx));
  // Without --follow the log is what a person asked for: auto means plain.
  if (!a.Bool("follow") && !a.Has("progress")) mode = ProgressMode::kPlain;
  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  if (!ctx.json()) {
    SF_ASSIGN_OR_RETURN(v1::Build build, GetBuild(*conn, id));
    return FollowBuild(ctx, *conn, build, static_cast<uint64_t>(offset), a.Bool("follow"), mode,
                       /*state_lines=*/false)
        .status();
  }
  std::string collected;
  WatchHandlers handlers;
  handlers.on_log = [&](absl::string_view data) {
    collected.append(data.data(), data.size());
    return absl::OkStatus();
  };
  handlers.on_note = [&](absl::string_view note) {
    ctx.err() << "sfactory: " << note << "\n" << std::flush;
  };
  SF_ASSIGN_OR_RETURN(WatchResult watched, WatchBuild(*conn, id, static_cast<uint64_t>(offset),
                                                      a.Bool("follow"), handlers));
  google::protobuf::Struct doc;
  auto& fields = *doc.mutable_fields();
  fields["build_id"] = JsonString(id);
  fields["offset"] = JsonNumber(static_cast<double>(offset));
  fields["next_offset"] = JsonNumber(static_cast<double>(watched.next_offset));
  fields["state"] = JsonString(watched.has_build ? StateName(watched.build.state()) : "");
  fields["log"] = JsonString(collected);
  return PrintJson(ctx, doc);
}

absl::Status FetchCommand(CommandContext& ctx) {
  const ParsedArgs& a = ctx.args();
  const std::string dir = a.String("output", ".");
  if (dir.empty()) return UsageError("--output needs a directory");
  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  SF_ASSIGN_OR_RETURN(v1::Build build, GetBuild(*conn, a.positional()[0]));
  TransferMeter meter(ctx.err());
  SF_ASSIGN_OR_RETURN(std::vector<FetchedArtifact> fetched,
                      FetchArtifacts(*conn, build, a.String("name"), dir, ctx.err(),
                                     ctx.err_is_terminal() ? &meter : nullptr));
  if (!ctx.json()) {
    PrintPaths(ctx.out(), fetched);
    return absl::OkStatus();
  }
  google::protobuf::Struct doc;
  (*doc.mutable_fields())["build_id"] = JsonString(build.id());
  (*doc.mutable_fields())["dir"] = JsonString(dir);
  (*doc.mutable_fields())["fetched"] = FetchedJson(fetched);
  return PrintJson(ctx, doc);
}

}  // namespace sfactory::client
