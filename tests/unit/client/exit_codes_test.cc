#include "client/exit_codes.h"

#include <catch2/catch.hpp>
#include <set>

#include "client/connection.h"

namespace sfactory::client {
namespace {

int Code(const absl::Status& s) { return static_cast<int>(ExitCodeFor(s)); }

TEST_CASE("ExitCodeFor maps success to 0", "[client]") { CHECK(Code(absl::OkStatus()) == 0); }

TEST_CASE("ExitCodeFor maps daemon rejections to the bad-input code", "[client]") {
  CHECK(Code(absl::InvalidArgumentError("x")) == 2);
  CHECK(Code(absl::FailedPreconditionError("x")) == 2);
  CHECK(Code(absl::AlreadyExistsError("x")) == 2);
  CHECK(Code(absl::OutOfRangeError("x")) == 2);
  CHECK(Code(UsageError("x")) == 2);
}

TEST_CASE("ExitCodeFor maps an unreachable daemon to 3", "[client]") {
  CHECK(Code(absl::UnavailableError("x")) == 3);
  CHECK(Code(absl::DeadlineExceededError("x")) == 3);
  CHECK(Code(UnreachableError("unix:/x", "y")) == 3);
}

TEST_CASE("ExitCodeFor gives build outcomes their own codes", "[client]") {
  CHECK(Code(BuildFailedError("b1 failed")) == 1);
  CHECK(Code(BuildCancelledError("b1 cancelled")) == 4);
  // A plain CANCELLED status (not a build outcome) is not "build cancelled".
  CHECK(Code(absl::CancelledError("x")) == 70);
}

TEST_CASE("ExitCodeFor maps not found, permission and integrity errors", "[client]") {
  CHECK(Code(absl::NotFoundError("x")) == 5);
  CHECK(Code(absl::PermissionDeniedError("x")) == 6);
  CHECK(Code(absl::UnauthenticatedError("x")) == 6);
  CHECK(Code(absl::DataLossError("x")) == 7);
  CHECK(Code(absl::ResourceExhaustedError("x")) == 8);
  CHECK(Code(absl::InternalError("x")) == 70);
  CHECK(Code(absl::UnknownError("x")) == 70);
}

TEST_CASE("Explain maps only real resource errors to 8, not gRPC's size limits", "[client]") {
  Connection conn("unix:/nowhere", nullptr, {}, ConnectOptions());
  CHECK(Code(conn.Explain(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                       "cannot queue the build: disk full"))) == 8);
  for (const char* limit : {"Received message larger than max (9999 vs. 4194304)",
                            "received initial metadata size exceeds limit (20000 vs. 16384)"}) {
    absl::Status s = conn.Explain(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, limit));
    CHECK(Code(s) == 70);
    CHECK(s.message().find("no disk is full") != absl::string_view::npos);
  }
}

TEST_CASE("Explain says how to authenticate, and UNAUTHENTICATED exits 6", "[client]") {
  Connection conn("host:1", nullptr, {}, ConnectOptions());
  absl::Status s = conn.Explain(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token"));
  CHECK(Code(s) == 6);
  CHECK(s.message().find("the daemon does not know who you are") != absl::string_view::npos);
  CHECK(s.message().find("SFACTORY_TOKEN") != absl::string_view::npos);
}

TEST_CASE("ExitCodeTable lists each code once", "[client]") {
  std::set<int> codes;
  for (const ExitCodeInfo& e : ExitCodeTable()) {
    CHECK(codes.insert(static_cast<int>(e.code)).second);
    CHECK(std::string(e.meaning).size() > 3);
  }
  CHECK(codes == std::set<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 70, 130});
}

}  // namespace
}  // namespace sfactory::client
