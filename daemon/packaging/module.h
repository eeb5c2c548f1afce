// Module files for a package: an Lmod Lua module and a Tcl modulefile,
// rendered from templates/modules/<package>.{lua,tcl}.in. Both take the
// software root from $SLURM_INSTALL_PREFIX and fall back to the build-time
// prefix (see the templates for the exact environment they set).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::packaging {

// Replaces every @NAME@ (NAME = [A-Z0-9_]+) by values.at(NAME). An unknown
// NAME is InvalidArgument naming it and its line. A value holding anything
// but [A-Za-z0-9 ._/+:,=-] is InvalidArgument too: values land inside Lua
// and Tcl string literals, so quoting characters are never let through.
absl::StatusOr<std::string> RenderTemplate(absl::string_view text,
                                           const std::map<std::string, std::string>& values);

struct ModuleRequest {
  // Directory holding <package_name>.lua.in and <package_name>.tcl.in.
  std::filesystem::path templates_dir;
  std::string package_name = "slurm";
  v1::BuildSpec spec;  // normalised
  std::string build_id;
  std::string digest;
  // Absolute; the fallback software root.
  std::string install_prefix;
};

struct RenderedModules {
  std::string lua;
  std::string tcl;
};

// The placeholder values: PACKAGE, VERSION, PREFIX, BUILD_ID, DIGEST,
// RECIPE, OS, ARCH, VARIANTS (space-separated), SFACTORY_VERSION.
std::map<std::string, std::string> ModuleValues(const ModuleRequest& request);

// InvalidArgument when install_prefix is not absolute or a value is unsafe;
// NotFound when a template is missing.
absl::StatusOr<RenderedModules> RenderModules(const ModuleRequest& request);

// Writes <root>/modules/<package>/<version>.lua (Lmod) and
// <root>/modulefiles/<package>/<version> (Tcl), creating directories.
absl::Status WriteModuleTree(const std::filesystem::path& root, const ModuleRequest& request,
                             const RenderedModules& modules);

}  // namespace sfactory::packaging
