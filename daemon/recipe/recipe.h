// Recipes: directories of templates (docs/RECIPES.md) rendered into ordered
// phases. Loading checks everything a build will need (scripts exist,
// placeholders are known), so a broken recipe fails the daemon's start, not
// a build an hour later.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/catalog.h"

namespace sfactory::recipe {

struct PhaseTemplate {
  std::string name;
  std::string script;  // template text
  // `timeout:` in recipe.yaml ("90m", "2h"): the phase fails when it runs
  // longer. Infinite when the recipe sets none (max_build_time still holds).
  absl::Duration timeout = absl::InfiniteDuration();
};

struct Recipe {
  std::string name;
  std::string description;
  std::vector<std::string> variants;
  std::vector<std::string> packages;
  // Set when the recipe builds a fixed tarball instead of the catalog's
  // Slurm release (test recipes).
  std::optional<SourceFile> fixed_source;
  std::vector<PhaseTemplate> phases;
  std::vector<PhaseTemplate> verify;
  // Non-empty: the daemon packages $SF_OUT/tree.tar under this name.
  std::string package_name;
  // Without packaging: files in $SF_OUT that become artifacts as they are.
  std::vector<std::string> artifacts;
  // Globs relative to $SF_WORK ("**/config.log") of files a failed build
  // keeps in its debug bundle: bash globstar patterns of [A-Za-z0-9._+*?/-],
  // never absolute, no ".." component.
  std::vector<std::string> debug_files;
  std::filesystem::path dir;
  // sha256 over every file of the directory (path and content).
  std::string digest;
};

// The placeholders a template may use; anything else is an error.
const std::vector<std::string>& KnownPlaceholders();

absl::StatusOr<Recipe> LoadRecipe(const std::filesystem::path& dir);

class RecipeSet {
 public:
  // Loads every subdirectory holding a recipe.yaml; a later dir's recipe
  // replaces an earlier one of the same name. Missing dirs are skipped; a
  // broken recipe is an error.
  static absl::StatusOr<RecipeSet> Load(const std::vector<std::filesystem::path>& dirs);

  const Recipe* Find(absl::string_view name) const;
  std::vector<const Recipe*> All() const;

 private:
  std::map<std::string, Recipe, std::less<>> recipes_;
};

// Replaces every "{{ name }}" in `text` with vars[name]. An unknown name is
// InvalidArgument naming `what` (e.g. the script file).
absl::StatusOr<std::string> Render(absl::string_view text,
                                   const std::map<std::string, std::string>& vars,
                                   absl::string_view what);

}  // namespace sfactory::recipe
