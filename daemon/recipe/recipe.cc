#include "daemon/recipe/recipe.h"

#include <algorithm>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/fs.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status.h"
#include "common/yaml_util.h"

namespace sfactory::recipe {
namespace fs = std::filesystem;
namespace {

// A script or artifact: a plain file name in the recipe directory.
bool IsRecipeFileName(absl::string_view name) {
  static const std::regex kFileRe(R"(^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$)");
  return std::regex_match(name.begin(), name.end(), kFileRe);
}

// A distribution package the base image installs.
bool IsPackageName(absl::string_view name) {
  static const std::regex kPackageRe(R"(^[a-z0-9][a-z0-9.+-]*$)");
  return std::regex_match(name.begin(), name.end(), kPackageRe);
}

// A debug_files glob: safe to put unquoted into a bash command line (no
// spaces, quotes or expansions besides * and ?), relative, not leaving $SF_WORK.
bool IsDebugGlob(absl::string_view glob) {
  static const std::regex kGlobRe(R"(^[A-Za-z0-9._+*?-][A-Za-z0-9._+*?/-]{0,200}$)");
  if (!std::regex_match(glob.begin(), glob.end(), kGlobRe)) return false;
  for (absl::string_view part : absl::StrSplit(glob, '/')) {
    if (part == "..") return false;
  }
  return true;
}

absl::StatusOr<std::vector<std::string>> NameList(absl::string_view src, const YAML::Node& n,
                                                  bool (*valid)(absl::string_view),
                                                  absl::string_view what) {
  std::vector<std::string> out;
  if (!n) return out;
  if (!n.IsSequence()) return YamlError(src, n, absl::StrCat("'", what, "' must be a list"));
  for (const auto& item : n) {
    SF_ASSIGN_OR_RETURN(std::string s, YamlString(src, item));
    if (!valid(s)) {
      return YamlError(src, item, absl::StrCat("bad ", what, " entry '", s, "'"));
    }
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<std::vector<PhaseTemplate>> LoadPhases(const fs::path& dir, absl::string_view src,
                                                      const YAML::Node& n,
                                                      absl::string_view what) {
  std::vector<PhaseTemplate> out;
  if (!n) return out;
  if (!n.IsSequence()) return YamlError(src, n, absl::StrCat("'", what, "' must be a list"));
  for (const auto& item : n) {
    SF_RETURN_IF_ERROR(CheckKeys(src, item, {"name", "script", "timeout"}));
    if (!item["name"] || !item["script"]) {
      return YamlError(src, item, "a phase needs 'name' and 'script'");
    }
    PhaseTemplate p;
    SF_ASSIGN_OR_RETURN(p.name, YamlString(src, item["name"]));
    if (!IsValidName(p.name)) {
      return YamlError(src, item["name"], absl::StrCat("bad phase name '", p.name, "'"));
    }
    SF_ASSIGN_OR_RETURN(std::string file, YamlString(src, item["script"]));
    if (!IsRecipeFileName(file)) {
      return YamlError(src, item["script"], "script must be a file name in the recipe directory");
    }
    auto text = ReadFile(dir / file);
    if (!text.ok()) return YamlError(src, item["script"], text.status().message());
    // Check the placeholders now; values are filled per build.
    std::map<std::string, std::string> probe;
    for (const auto& k : KnownPlaceholders()) probe[k] = "";
    SF_RETURN_IF_ERROR(Render(*text, probe, (dir / file).string()).status());
    p.script = std::move(*text);
    if (item["timeout"]) {
      absl::StatusOr<absl::Duration> timeout = YamlDuration(src, item["timeout"]);
      if (!timeout.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(timeout.status().message(), " (the timeout of phase ", p.name, ")"));
      }
      p.timeout = *timeout;
      if (p.timeout <= absl::ZeroDuration()) {
        return YamlError(src, item["timeout"], "a phase timeout must be longer than 0");
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<std::string> DirDigest(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(fs::relative(it->path(), dir));
  }
  if (ec) return ErrnoStatus(ec.value(), "list " + dir.string());
  std::sort(files.begin(), files.end());
  Sha256 h;
  for (const auto& f : files) {
    SF_ASSIGN_OR_RETURN(std::string content, ReadFile(dir / f));
    h.Update(absl::StrCat(f.string(), "\n", content.size(), "\n"));
    h.Update(content);
  }
  return h.FinishHex();
}

}  // namespace

const std::vector<std::string>& KnownPlaceholders() {
  static const auto* names = new std::vector<std::string>{
      "version", "series", "recipe", "os", "arch", "variants", "build_id"};
  return *names;
}

absl::StatusOr<std::string> Render(absl::string_view text,
                                   const std::map<std::string, std::string>& vars,
                                   absl::string_view what) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == absl::string_view::npos) break;
    size_t close = text.find("}}", open + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": unclosed '{{'"));
    }
    std::string name(absl::StripAsciiWhitespace(text.substr(open + 2, close - open - 2)));
    auto it = vars.find(name);
    if (it == vars.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": unknown placeholder '{{ ", name, " }}'"));
    }
    absl::StrAppend(&out, text.substr(pos, open - pos), it->second);
    pos = close + 2;
  }
  absl::StrAppend(&out, text.substr(pos));
  return out;
}

absl::StatusOr<Recipe> LoadRecipe(const fs::path& dir) {
  fs::path file = dir / "recipe.yaml";
  std::string src = file.string();
  SF_ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(file));
  SF_RETURN_IF_ERROR(CheckKeys(src, root, {"name", "description", "variants", "packages",
                                           "source", "phases", "package", "artifacts",
                                           "verify", "debug_files"}));
  Recipe r;
  r.dir = dir;
  if (!root["name"]) return YamlError(src, root, "recipe needs a 'name'");
  SF_ASSIGN_OR_RETURN(r.name, YamlString(src, root["name"]));
  if (r.name != dir.filename().string()) {
    return YamlError(src, root["name"], absl::StrCat("name '", r.name,
                                                     "' must equal the directory name '",
                                                     dir.filename().string(), "'"));
  }
  if (root["description"]) {
    SF_ASSIGN_OR_RETURN(r.description, YamlString(src, root["description"]));
  }
  SF_ASSIGN_OR_RETURN(r.variants, NameList(src, root["variants"], IsValidName, "variants"));
  SF_ASSIGN_OR_RETURN(r.packages, NameList(src, root["packages"], IsPackageName, "packages"));
  const YAML::Node source = root["source"];
  if (!source) return YamlError(src, root, "recipe needs 'source' (slurm or a fixed tarball)");
  if (source.IsScalar()) {
    if (source.Scalar() != "slurm") {
      return YamlError(src, source, "source must be 'slurm' or {name, sha256, top_dir}");
    }
  } else {
    SF_RETURN_IF_ERROR(CheckKeys(src, source, {"name", "sha256", "top_dir"}));
    SourceFile f;
    if (!source["name"] || !source["sha256"]) {
      return YamlError(src, source, "a fixed source needs 'name' and 'sha256'");
    }
    SF_ASSIGN_OR_RETURN(f.name, YamlString(src, source["name"]));
    SF_ASSIGN_OR_RETURN(f.sha256, YamlString(src, source["sha256"]));
    if (!IsSha256Hex(f.sha256)) return YamlError(src, source["sha256"], "bad sha256");
    if (source["top_dir"]) {
      SF_ASSIGN_OR_RETURN(f.top_dir, YamlString(src, source["top_dir"]));
    }
    r.fixed_source = std::move(f);
  }
  SF_ASSIGN_OR_RETURN(r.phases, LoadPhases(dir, src, root["phases"], "phases"));
  if (r.phases.empty()) return YamlError(src, root, "recipe needs at least one phase");
  SF_ASSIGN_OR_RETURN(r.verify, LoadPhases(dir, src, root["verify"], "verify"));
  if (root["package"]) {
    SF_ASSIGN_OR_RETURN(r.package_name, YamlString(src, root["package"]));
    if (!IsValidName(r.package_name)) {
      return YamlError(src, root["package"], "package must be a lower-case name");
    }
  }
  SF_ASSIGN_OR_RETURN(r.artifacts,
                      NameList(src, root["artifacts"], IsRecipeFileName, "artifacts"));
  SF_ASSIGN_OR_RETURN(r.debug_files,
                      NameList(src, root["debug_files"], IsDebugGlob, "debug_files"));
  if (r.package_name.empty() == r.artifacts.empty()) {
    return YamlError(src, root, "recipe needs exactly one of 'package' and 'artifacts'");
  }
  SF_ASSIGN_OR_RETURN(r.digest, DirDigest(dir));
  return r;
}

absl::StatusOr<RecipeSet> RecipeSet::Load(const std::vector<fs::path>& dirs) {
  RecipeSet set;
  for (const auto& d : dirs) {
    std::error_code ec;
    if (!fs::is_directory(d, ec)) continue;
    std::vector<fs::path> subdirs;
    for (const auto& e : fs::directory_iterator(d, ec)) {
      if (e.is_directory() && fs::exists(e.path() / "recipe.yaml")) subdirs.push_back(e.path());
    }
    std::sort(subdirs.begin(), subdirs.end());
    for (const auto& sd : subdirs) {
      SF_ASSIGN_OR_RETURN(Recipe r, LoadRecipe(sd));
      std::string name = r.name;
      set.recipes_.insert_or_assign(name, std::move(r));
    }
  }
  return set;
}

const Recipe* RecipeSet::Find(absl::string_view name) const {
  auto it = recipes_.find(name);
  return it == recipes_.end() ? nullptr : &it->second;
}

std::vector<const Recipe*> RecipeSet::All() const {
  std::vector<const Recipe*> out;
  for (const auto& [name, r] : recipes_) out.push_back(&r);
  return out;
}

}  // namespace sfactory::recipe
