// sfactoryd's command line: flags, --help (every config key with its
// default), --show-config, then RunDaemon.
#pragma once

namespace sfactory::service {

int Main(int argc, char** argv);

}  // namespace sfactory::service
