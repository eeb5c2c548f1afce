// The Catch2 main shared by every unit test binary: Catch's own, plus the
// skip exit code of tests/skip.h.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <iostream>
#include <set>
#include <string>

#include "tests/skip.h"

namespace sfactory::testing {
namespace {

std::set<std::string>& Skipped() {
  static std::set<std::string> skipped;
  return skipped;
}

}  // namespace

void MarkSkipped(const std::string& reason) {
  std::string name = Catch::getResultCapture().getCurrentTestName();
  // A test case with sections runs once per section; say it once.
  if (Skipped().insert(name).second) std::cout << "SKIPPED: " << reason << std::endl;
}

int TestExitCode(int catch_result) {
  if (catch_result == kSkipExitCode) return 1;  // 77 failed assertions still fail
  if (catch_result != 0 || Skipped().empty()) return catch_result;
  std::cout << "test cases skipped: " << Skipped().size() << " (exit " << kSkipExitCode << ")"
            << std::endl;
  return kSkipExitCode;
}

}  // namespace sfactory::testing

int main(int argc, char* argv[]) {
  return sfactory::testing::TestExitCode(Catch::Session().run(argc, argv));
}
