// sfactory_gen_man OUTDIR: writes sfactory.1, sfactoryd.8 and
// sfactoryd.yaml.5 into OUTDIR (a CMake custom command runs it at build time).
//
// A separate build-time tool rather than a hidden `sfactory __man`: the
// daemon's pages come from the daemon's tables (config::Keys(),
// service::DaemonFlags()), and the client binary should not link the daemon's
// config library just to print them. This tool is the one place that links
// both sides; it is not installed.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/manpage.h"
#include "daemon/config/config.h"
#include "daemon/service/flags.h"

#ifndef SFACTORY_VERSION
#define SFACTORY_VERSION "dev"
#endif

namespace {

bool Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "sfactory_gen_man: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: sfactory_gen_man OUTDIR\n");
    return 2;
  }
  namespace client = sfactory::client;
  const std::string dir = argv[1];

  std::vector<client::ManEntry> flags;
  for (const auto& f : sfactory::service::DaemonFlags()) {
    std::string text = f.help;
    if (f.repeatable) absl::StrAppend(&text, " (repeatable)");
    flags.push_back({absl::StrCat("--", f.name), f.value_name, text});
  }
  std::vector<client::ManEntry> codes;
  for (const auto& e : sfactory::service::DaemonExitCodes()) {
    codes.push_back({absl::StrCat(e.code), "", e.meaning});
  }
  std::vector<client::ManEntry> keys;
  for (const auto& k : sfactory::config::Keys()) {
    keys.push_back({k.key, "", absl::StrCat(k.help, " (default: ", k.default_text, ")")});
  }
  bool ok = Write(dir + "/sfactory.1", client::RenderManPage(client::ClientManPage()));
  ok = Write(dir + "/sfactoryd.8",
             client::RenderManPage(client::DaemonManPage(flags, codes, SFACTORY_VERSION))) &&
       ok;
  ok = Write(dir + "/sfactoryd.yaml.5",
             client::RenderManPage(client::ConfigManPage(keys, SFACTORY_VERSION))) &&
       ok;
  return ok ? 0 : 1;
}
