// Skipping a Catch2 test case that cannot run here (Catch2 2.13 has no SKIP).
//
//   if (!LxdAvailable()) SF_SKIP("LXD does not answer on " << socket);
//
// SF_SKIP prints "SKIPPED: <reason>" and returns from the test case, which
// must not have failed before. The test binary then exits with kSkipExitCode
// (77) instead of 0 when no test case failed, and ctest, which runs every
// discovered test case as its own process with SKIP_RETURN_CODE 77
// (tests/CMakeLists.txt), reports the test case as "Skipped", not "Passed".
// Use it only directly in a TEST_CASE body (it returns), before any SECTION.
#pragma once

#include <sstream>
#include <string>

namespace sfactory::testing {

inline constexpr int kSkipExitCode = 77;

// Records that the running test case is skipped and prints why.
void MarkSkipped(const std::string& reason);

// The exit code of a test binary whose Catch session returned `catch_result`:
// kSkipExitCode when nothing failed and a test case skipped. Never
// kSkipExitCode for a failure (Catch returns the number of failed assertions).
int TestExitCode(int catch_result);

}  // namespace sfactory::testing

#define SF_SKIP(reason)                                      \
  do {                                                       \
    std::ostringstream sf_skip_reason_;                      \
    sf_skip_reason_ << reason;                               \
    ::sfactory::testing::MarkSkipped(sf_skip_reason_.str()); \
    return;                                                  \
  } while (0)
