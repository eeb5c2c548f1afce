// Entry point of the `sfactory` command-line client.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/settings.h"

namespace sfactory::client {

struct RunOptions {
  std::ostream* out = nullptr;  // stdout (std::cout when null)
  std::ostream* err = nullptr;  // stderr (std::cerr when null)
  ConnectOptions connect;
  GetEnv env;                    // the process environment when null
  bool out_is_terminal = false;  // `out` is a terminal: escape log bytes
  bool err_is_terminal = false;  // `err` is a terminal: --progress auto may draw there
};

// Runs one command line (without the program name) and returns the process
// exit code (see exit_codes.h). Errors are printed to `err` here, once.
int Run(const std::vector<std::string>& args, const RunOptions& options);

// main(): Run() on argv with the process's stdout/stderr.
int Run(int argc, char** argv);

}  // namespace sfactory::client
