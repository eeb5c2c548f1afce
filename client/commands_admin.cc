// info, sources add|list, images list|rebuild|prune, cache usage.
#include <fcntl.h>

#include <filesystem>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/status.h"

namespace sfactory::client {
namespace fs = std::filesystem;
namespace {

constexpr size_t kUploadChunkBytes = 1 << 20;

// Base images are named by a long digest; 12 characters tell them apart.
std::string ShortDigest(const std::string& digest) { return digest.substr(0, 12); }

std::string ImagesTable(const google::protobuf::RepeatedPtrField<v1::BaseImage>& images) {
  Table table({"DIGEST", "OS", "ARCH", "RECIPE", "STATE", "SIZE", "CREATED", "EXPIRES", "NAME"});
  for (const v1::BaseImage& i : images) {
    table.Add({ShortDigest(i.digest()), i.os(), i.arch(), i.recipe(), i.state(),
               FormatSize(i.size()), FormatLocalTime(i.created_at()),
               FormatLocalTime(i.expires_at()), i.name()});
  }
  return table.Render();
}

// Streams the header, then the file in chunks; the stream is the call.
grpc::Status Upload(Connection& conn, grpc::ClientContext& context, const fs::path& path,
                    const v1::Source& header, v1::Source* response) {
  absl::StatusOr<Fd> fd = OpenFile(path, O_RDONLY);
  if (!fd.ok()) return grpc::Status(grpc::StatusCode::NOT_FOUND, std::string(fd.status().message()));
  std::unique_ptr<grpc::ClientWriterInterface<v1::AddSourceRequest>> writer =
      conn.sources().AddSource(&context, response);
  v1::AddSourceRequest message;
  *message.mutable_header() = header;
  bool open = writer->Write(message);
  std::vector<char> buf(kUploadChunkBytes);
  uint64_t offset = 0;
  while (open && offset < header.size()) {
    absl::StatusOr<size_t> n = PreadFull(fd->get(), buf.data(), buf.size(), offset);
    if (!n.ok() || *n == 0) {
      context.TryCancel();
      writer->Finish();
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          absl::StrCat("cannot read ", path.string(), " at byte ", offset,
                                       n.ok() ? ": the file shrank" : ""));
    }
    message.set_data(buf.data(), *n);
    open = writer->Write(message);
    offset += *n;
  }
  if (open) writer->WritesDone();
  return writer->Finish();
}

}  // namespace

absl::Status InfoCommand(CommandContext& ctx) {
  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  v1::ServerInfo info;
  v1::GetServerInfoRequest request;
  SF_RETURN_IF_ERROR(conn->Unary(
      [&](grpc::ClientContext& c) { return conn->info().GetServerInfo(&c, request, &info); }));
  if (ctx.json()) return PrintJson(ctx, info);

  KeyValues kv;
  kv.Add("daemon", absl::StrCat("sfactoryd ", info.version(), " at ", conn->address()));
  kv.Add("provider", absl::StrCat(info.provider(),
                                  info.provider_problem().empty() ? " (ready)" : " (NOT USABLE)"));
  if (!info.provider_problem().empty()) kv.Add("provider problem", info.provider_problem());
  if (!info.disk_problem().empty()) kv.Add("disk problem", info.disk_problem());
  kv.Add("capacity", absl::StrCat(info.running_builds(), " running, ", info.queued_builds(),
                                  " queued, at most ", info.max_parallel_builds(),
                                  " in parallel"));
  if (info.queue().paused()) kv.Add("queue", QueuePausedText(info.queue()));
  kv.Add("defaults", absl::StrCat("recipe ", info.default_recipe(), ", os ", info.default_os(),
                                  ", arch ", info.default_arch()));
  ctx.out() << kv.Render();

  Table recipes({"  RECIPE", "VARIANTS", "DESCRIPTION"});
  for (const v1::RecipeInfo& r : info.recipes()) {
    recipes.Add({absl::StrCat("  ", r.name()),
                 r.variants().empty() ? "-" : absl::StrJoin(r.variants(), ","), r.description()});
  }
  ctx.out() << "\nrecipes:\n" << recipes.Render();

  Table series({"  SERIES", "PINNED", "SUPPORT", "RELEASES"});
  // Where each release is defined, grouped by file in first-seen order.
  std::vector<std::pair<std::string, std::vector<std::string>>> files;
  for (const v1::SlurmSeries& s : info.slurm_series()) {
    std::string support = "-";
    if (!s.end_of_support().empty()) {
      support = absl::StrCat(s.past_end_of_support() ? "ended " : "until ", s.end_of_support());
    }
    series.Add({absl::StrCat("  ", s.series()), s.pinned(), support,
                absl::StrJoin(s.releases(), " ")});
    for (const v1::CatalogRelease& r : s.release_details()) {
      absl::string_view origin = r.origin();
      absl::string_view file = origin.substr(0, origin.rfind(':'));
      auto it = std::find_if(files.begin(), files.end(),
                             [&](const auto& f) { return f.first == file; });
      if (it == files.end()) it = files.insert(files.end(), {std::string(file), {}});
      it->second.push_back(absl::StrCat(r.version(), " (line ", origin.substr(file.size() + 1),
                                        ")"));
    }
  }
  ctx.out() << "\nSlurm versions:\n" << series.Render();
  if (!files.empty()) {
    ctx.out() << "\ncatalog files:\n";
    for (const auto& [file, releases] : files) {
      ctx.out() << "  " << file << ": " << absl::StrJoin(releases, ", ") << "\n";
    }
  }
  return absl::OkStatus();
}

absl::Status SourcesAddCommand(CommandContext& ctx) {
  const fs::path path = ctx.args().positional()[0];
  std::string expected = absl::AsciiStrToLower(ctx.args().String("sha256"));
  if (!expected.empty() && !IsSha256Hex(expected)) {
    return UsageError("--sha256 needs 64 hex characters");
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path.string(), " is not a regular file"));
  }
  v1::Source header;
  header.set_name(path.filename().string());
  header.set_size(fs::file_size(path, ec));
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("stat ", path.string()));
  // Hashing first catches a wrong file before any upload, and lets the daemon
  // check that the bytes it received are the ones meant.
  SF_ASSIGN_OR_RETURN(std::string digest, Sha256File(path));
  if (!expected.empty() && digest != expected) {
    return absl::DataLossError(absl::StrCat(path.string(), " has sha256 ", digest,
                                            ", not the expected ", expected));
  }
  header.set_sha256(digest);

  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  v1::Source added;
  SF_RETURN_IF_ERROR(conn->Unary(
      [&](grpc::ClientContext& c) { return Upload(*conn, c, path, header, &added); },
      absl::InfiniteDuration()));
  if (ctx.json()) return PrintJson(ctx, added);
  ctx.out() << added.name() << "  " << FormatSize(added.size()) << "  " << added.sha256() << "\n";
  return absl::OkStatus();
}

absl::Status SourcesListCommand(CommandContext& ctx) {
  v1::ListSourcesResponse response;
  SF_RETURN_IF_ERROR(ctx.Call([&](Connection& conn, grpc::ClientContext& c) {
    return conn.sources().ListSources(&c, v1::ListSourcesRequest(), &response);
  }));
  return PrintListing(ctx, response, response.sources_size(), "no sources", [&] {
    Table table({"NAME", "SIZE", "ADDED", "SHA256"});
    for (const v1::Source& s : response.sources()) {
      table.Add({s.name(), FormatSize(s.size()), FormatLocalTime(s.added_at()), s.sha256()});
    }
    return table.Render();
  });
}

absl::Status ImagesListCommand(CommandContext& ctx) {
  v1::ListBaseImagesResponse response;
  SF_RETURN_IF_ERROR(ctx.Call([&](Connection& conn, grpc::ClientContext& c) {
    return conn.images().ListBaseImages(&c, v1::ListBaseImagesRequest(), &response);
  }));
  return PrintListing(ctx, response, response.images_size(), "no base images",
                      [&] { return ImagesTable(response.images()); });
}

absl::Status ImagesRebuildCommand(CommandContext& ctx) {
  v1::RebuildBaseImageRequest request;
  request.set_os(ctx.args().String("os"));
  request.set_arch(ctx.args().String("arch"));
  request.set_recipe(ctx.args().String("recipe"));
  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  ctx.err() << "rebuilding the base image; this can take a while\n" << std::flush;
  v1::BaseImage image;
  // Building an image takes minutes; the call has no deadline.
  SF_RETURN_IF_ERROR(conn->Unary(
      [&](grpc::ClientContext& c) { return conn->images().RebuildBaseImage(&c, request, &image); },
      absl::InfiniteDuration()));
  if (ctx.json()) return PrintJson(ctx, image);
  google::protobuf::RepeatedPtrField<v1::BaseImage> one;
  *one.Add() = image;
  ctx.out() << ImagesTable(one);
  return absl::OkStatus();
}

absl::Status ImagesPruneCommand(CommandContext& ctx) {
  v1::PruneBaseImagesRequest request;
  request.set_all(ctx.args().Bool("all"));
  v1::PruneBaseImagesResponse response;
  SF_RETURN_IF_ERROR(ctx.Call([&](Connection& conn, grpc::ClientContext& c) {
    return conn.images().PruneBaseImages(&c, request, &response);
  }));
  if (ctx.json()) return PrintJson(ctx, response);
  ctx.err() << "removed " << response.removed_size() << " base image"
            << (response.removed_size() == 1 ? "" : "s") << "\n";
  if (!response.removed().empty()) ctx.out() << ImagesTable(response.removed());
  return absl::OkStatus();
}

namespace {

absl::Status SetQueue(CommandContext& ctx, bool paused) {
  v1::SetQueuePausedRequest request;
  request.set_paused(paused);
  request.set_reason(ctx.args().String("reason"));
  v1::QueueStatus status;
  SF_RETURN_IF_ERROR(ctx.Call([&](Connection& conn, grpc::ClientContext& c) {
    return conn.builds().SetQueuePaused(&c, request, &status);
  }));
  if (ctx.json()) return PrintJson(ctx, status);
  if (paused) {
    ctx.err() << "the queue is paused: builds are accepted and queued, none starts ("
              << status.running_builds() << " running finish); `sfactory queue resume` "
              << "starts them again\n";
  } else {
    ctx.err() << "the queue runs again: " << status.queued_builds() << " queued\n";
  }
  return absl::OkStatus();
}

}  // namespace

std::string QueuePausedText(const v1::QueueStatus& q) {
  return absl::StrCat("PAUSED by ", q.paused_by(), " since ", FormatLocalTime(q.paused_at()),
                      q.reason().empty() ? "" : ": ", q.reason(),
                      " (builds queue, none starts; `sfactory queue resume`)");
}

absl::Status QueuePauseCommand(CommandContext& ctx) { return SetQueue(ctx, true); }
absl::Status QueueResumeCommand(CommandContext& ctx) { return SetQueue(ctx, false); }

absl::Status CacheUsageCommand(CommandContext& ctx) {
  v1::CacheUsage usage;
  SF_RETURN_IF_ERROR(ctx.Call([&](Connection& conn, grpc::ClientContext& c) {
    return conn.caches().GetUsage(&c, v1::GetUsageRequest(), &usage);
  }));
  if (ctx.json()) return PrintJson(ctx, usage);
  Table table({"AREA", "SIZE", "FILES", "PATH", "WHAT"});
  uint64_t total = 0;
  for (const v1::CacheArea& a : usage.areas()) {
    table.Add({a.name(), FormatSize(a.bytes()), absl::StrCat(a.files()), a.path(),
               a.description()});
    total += a.bytes();
  }
  ctx.out() << table.Render();
  KeyValues kv;
  kv.Add("total", FormatSize(total));
  kv.Add("state fs", absl::StrCat(FormatSize(usage.state_fs_free()), " free of ",
                                  FormatSize(usage.state_fs_size()), "; builds wait below ",
                                  usage.min_free_space() == 0
                                      ? std::string("(no minimum)")
                                      : FormatSize(usage.min_free_space())));
  if (!usage.disk_problem().empty()) kv.Add("disk problem", usage.disk_problem());
  ctx.out() << "\n" << kv.Render();
  return absl::OkStatus();
}

}  // namespace sfactory::client
