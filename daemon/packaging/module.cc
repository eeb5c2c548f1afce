#include "daemon/packaging/module.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/status.h"
#include "daemon/packaging/version.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;

bool IsNameChar(char c) {
  return absl::ascii_isupper(static_cast<unsigned char>(c)) ||
         absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_';
}

bool IsSafeValueChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view(" ._/+:,=-").find(c) != absl::string_view::npos;
}

}  // namespace

absl::StatusOr<std::string> RenderTemplate(absl::string_view text,
                                           const std::map<std::string, std::string>& values) {
  for (const auto& [name, value] : values) {
    if (!std::all_of(value.begin(), value.end(), IsSafeValueChar)) {
      return absl::InvalidArgumentError(
          absl::StrCat("value of @", name, "@ has characters a module file cannot hold: ", value));
    }
  }
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t at = text.find('@', i);
    if (at == absl::string_view::npos) break;
    size_t end = at + 1;
    while (end < text.size() && IsNameChar(text[end])) ++end;
    if (end == at + 1 || end >= text.size() || text[end] != '@') {
      // Not a placeholder ("user@host", a lone "@").
      absl::StrAppend(&out, text.substr(i, at + 1 - i));
      i = at + 1;
      continue;
    }
    std::string name(text.substr(at + 1, end - at - 1));
    auto it = values.find(name);
    if (it == values.end()) {
      int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
      return absl::InvalidArgumentError(
          absl::StrCat("unknown placeholder @", name, "@ on line ", line));
    }
    absl::StrAppend(&out, text.substr(i, at - i));
    out.append(it->second);
    i = end + 1;
  }
  absl::StrAppend(&out, text.substr(std::min(i, text.size())));
  return out;
}

std::map<std::string, std::string> ModuleValues(const ModuleRequest& request) {
  std::string prefix = request.install_prefix;
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  return {
      {"PACKAGE", request.package_name},
      {"VERSION", request.spec.slurm_version()},
      {"PREFIX", prefix},
      {"BUILD_ID", request.build_id},
      {"DIGEST", request.digest},
      {"RECIPE", request.spec.recipe()},
      {"OS", request.spec.os()},
      {"ARCH", request.spec.arch()},
      {"VARIANTS", absl::StrJoin(request.spec.variants(), " ")},
      {"SFACTORY_VERSION", std::string(SfactoryVersion())},
  };
}

absl::StatusOr<RenderedModules> RenderModules(const ModuleRequest& request) {
  if (request.install_prefix.empty() || request.install_prefix[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("install prefix must be an absolute path, got \"", request.install_prefix,
                     "\""));
  }
  if (request.spec.slurm_version().empty() || request.package_name.empty()) {
    return absl::InvalidArgumentError("module needs a package name and a version");
  }
  auto values = ModuleValues(request);
  RenderedModules out;
  for (auto [suffix, dest] : {std::pair{".lua.in", &out.lua}, std::pair{".tcl.in", &out.tcl}}) {
    fs::path path = request.templates_dir / absl::StrCat(request.package_name, suffix);
    auto text = ReadFile(path);
    if (!text.ok()) return Annotate(text.status(), "module template");
    auto rendered = RenderTemplate(*text, values);
    if (!rendered.ok()) return Annotate(rendered.status(), path.string());
    *dest = std::move(*rendered);
  }
  return out;
}

absl::Status WriteModuleTree(const fs::path& root, const ModuleRequest& request,
                             const RenderedModules& modules) {
  const std::string& version = request.spec.slurm_version();
  fs::path lua_dir = root / "modules" / request.package_name;
  fs::path tcl_dir = root / "modulefiles" / request.package_name;
  SF_RETURN_IF_ERROR(MakeDirs(lua_dir));
  SF_RETURN_IF_ERROR(MakeDirs(tcl_dir));
  SF_RETURN_IF_ERROR(WriteFileAtomic(lua_dir / absl::StrCat(version, ".lua"), modules.lua));
  SF_RETURN_IF_ERROR(WriteFileAtomic(tcl_dir / version, modules.tcl));
  return absl::OkStatus();
}

}  // namespace sfactory::packaging
