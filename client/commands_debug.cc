// sfactory debug: a failed build's debug bundle, fetched like an artifact.
#include <system_error>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output.h"
#include "common/status.h"

namespace sfactory::client {
namespace fs = std::filesystem;

absl::Status DebugCommand(CommandContext& ctx) {
  const ParsedArgs& a = ctx.args();
  if (a.Has("output") && a.String("output").empty()) {
    return UsageError("--output needs a file name, e.g. -o bundle.tar.gz");
  }
  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  SF_ASSIGN_OR_RETURN(v1::Build build, GetBuild(*conn, a.positional()[0]));
  OpenFetchStream open = [&](grpc::ClientContext& context, uint64_t offset) {
    v1::GetDebugBundleRequest request;
    request.set_build_id(build.id());
    request.set_read_offset(offset);
    return conn->builds().GetDebugBundle(&context, request);
  };
  if (!build.has_debug_bundle()) {
    // The daemon says why: still running, succeeded, not yours.
    grpc::ClientContext context;
    PrepareContext(context, conn->options().rpc_timeout);
    auto reader = open(context, 0);
    v1::FetchArtifactResponse ignored;
    while (reader->Read(&ignored)) {
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) return conn->Explain(status);
    return absl::UnavailableError(absl::StrCat("build ", build.id(),
                                               " got a debug bundle just now; run this again"));
  }
  fs::path out = a.String("output", build.debug_bundle().name());
  std::error_code ec;
  if (fs::is_directory(out, ec)) out /= build.debug_bundle().name();
  SF_ASSIGN_OR_RETURN(FetchedArtifact f, FetchToFile(*conn, build.debug_bundle(), out, open));
  ctx.err() << f.name << "  " << FormatSize(f.size) << "  "
            << (f.already_present ? "already present" : "fetched") << ", sha256 ok\n"
            << std::flush;
  if (!ctx.json()) return WriteOut(ctx.out(), absl::StrCat(f.path.string(), "\n"));
  google::protobuf::Struct doc;
  (*doc.mutable_fields())["build_id"] = JsonString(build.id());
  (*doc.mutable_fields())["path"] = JsonString(f.path.string());
  (*doc.mutable_fields())["sha256"] = JsonString(f.sha256);
  (*doc.mutable_fields())["size"].set_number_value(static_cast<double>(f.size));
  return PrintJson(ctx, doc);
}

}  // namespace sfactory::client
