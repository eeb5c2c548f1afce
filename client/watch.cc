#include "client/watch.h"

#include "absl/strings/str_cat.h"
#include "client/output.h"

namespace sfactory::client {

absl::StatusOr<WatchResult> WatchBuild(Connection& connection, const std::string& build_id,
                                       uint64_t offset, bool follow,
                                       const WatchHandlers& handlers) {
  WatchResult result;
  result.next_offset = offset;
  Backoff backoff(connection.options().retry);
  int failures = 0;  // consecutive broken streams without progress
  for (;;) {
    grpc::ClientContext context;
    PrepareContext(context, absl::InfiniteDuration());
    v1::WatchBuildRequest request;
    request.set_build_id(build_id);
    request.set_log_offset(result.next_offset);
    request.set_follow(follow);
    std::unique_ptr<grpc::ClientReaderInterface<v1::BuildEvent>> reader =
        connection.builds().WatchBuild(&context, request);

    bool progressed = false;
    absl::Status handler_error;
    v1::BuildEvent event;
    while (handler_error.ok() && reader->Read(&event)) {
      if (event.has_log()) {
        const v1::LogChunk& chunk = event.log();
        uint64_t begin = chunk.offset();
        uint64_t end = begin + chunk.data().size();
        if (begin > result.next_offset && handlers.on_note) {
          handlers.on_note(absl::StrCat("log bytes ", result.next_offset, "..", begin,
                                        " were not sent by the daemon"));
        }
        if (end <= result.next_offset) continue;  // already passed on
        size_t skip = begin < result.next_offset ? result.next_offset - begin : 0;
        handler_error = handlers.on_log(absl::string_view(chunk.data()).substr(skip));
        result.next_offset = end;
        progressed = true;
      } else if (event.has_build()) {
        const v1::Build& b = event.build();
        // A state change is progress; the same state re-sent on every
        // reconnect is not.
        if (!result.has_build || b.state() != result.build.state() ||
            b.current_phase() != result.build.current_phase()) {
          progressed = true;
        }
        result.build = b;
        result.has_build = true;
        if (handlers.on_build) handlers.on_build(result.build);
      }
    }
    if (!handler_error.ok()) {
      context.TryCancel();
      reader->Finish();
      return handler_error;
    }
    grpc::Status status = reader->Finish();
    if (status.ok()) {
      if (!follow || (result.has_build && IsTerminal(result.build.state()))) return result;
      // The daemon closed a follow stream early (a graceful shutdown): resume.
    } else if (!IsBrokenStream(status)) {
      return connection.Explain(status);
    }
    if (progressed) {
      failures = 0;
      backoff.Reset();
    }
    if (++failures >= connection.options().retry.attempts) {
      return status.ok() ? absl::UnavailableError(absl::StrCat(
                               "the daemon keeps ending the log stream of ", build_id,
                               " before the build has ended"))
                         : connection.Explain(status);
    }
    if (handlers.on_note) {
      handlers.on_note(absl::StrCat(
          "stream interrupted (", status.ok() ? "closed by the daemon" : status.error_message(),
          "); reconnecting from log offset ", result.next_offset));
    }
    backoff.Wait();
    if (absl::Status s = connection.WaitReachable(connection.options().reconnect_timeout, 0);
        !s.ok()) {
      return s;
    }
  }
}

}  // namespace sfactory::client
