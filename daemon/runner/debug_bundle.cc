#include "daemon/runner/debug_bundle.h"

#include <unistd.h>

#include <algorithm>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/atomic_file.h"
#include "common/fs.h"
#include "common/output_pump.h"
#include "common/sha256.h"
#include "common/status.h"
#include "common/yaml_util.h"
#include "google/protobuf/util/json_util.h"

namespace sfactory::runner {
namespace fs = std::filesystem;
namespace {

constexpr absl::string_view kRedacted = "<redacted>";

// An instance's output kept in memory, up to a cap.
class CaptureSink : public provider::OutputSink {
 public:
  explicit CaptureSink(size_t limit) : capture_(limit) {}
  void Write(absl::string_view bytes) override { capture_.Append(bytes); }
  const Capture& capture() const { return capture_; }

 private:
  Capture capture_;
};

// What one CollectDebug call writes, and what went wrong on the way.
class Tree {
 public:
  explicit Tree(fs::path top) : top_(std::move(top)) {}

  void Write(const std::string& relative, absl::string_view text, absl::string_view what) {
    fs::path path = top_ / relative;
    absl::Status s = MakeDirs(path.parent_path());
    if (s.ok()) s = WriteFileAtomic(path, text);
    if (s.ok()) {
      Describe(relative, what);
    } else {
      Note(absl::StrCat("could not write ", relative, ": ", s.message()));
    }
  }
  void Describe(const std::string& relative, absl::string_view what) {
    contents_.push_back(absl::StrCat("  ", relative, "  ", what));
  }
  void Note(absl::string_view note) { notes_.emplace_back(note); }
  const fs::path& top() const { return top_; }
  const std::vector<std::string>& contents() const { return contents_; }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  fs::path top_;
  std::vector<std::string> contents_;
  std::vector<std::string> notes_;
};

// Runs `script` in the instance; its output (up to `limit`) or why not.
absl::StatusOr<std::string> RunInInstance(provider::Instance& instance, const std::string& what,
                                          std::string script, const std::vector<std::string>& env,
                                          provider::CancelToken& cancel, size_t limit) {
  CaptureSink sink(limit);
  provider::ExecRequest exec{what, std::move(script), env};
  SF_ASSIGN_OR_RETURN(int code, instance.Exec(exec, sink, cancel));
  if (code != 0) {
    return absl::InternalError(absl::StrCat(what, " exited with code ", code, ": ",
                                            absl::StripAsciiWhitespace(sink.capture().text())));
  }
  if (sink.capture().truncated()) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, " printed more than ", limit, " bytes"));
  }
  return sink.capture().text();
}

std::string RedactEntry(absl::string_view entry) {
  size_t eq = entry.find('=');
  absl::string_view name = entry.substr(0, eq);
  std::string value = eq == absl::string_view::npos ? "" : std::string(entry.substr(eq + 1));
  if (IsSecretName(name)) value = std::string(kRedacted);
  return absl::StrCat(name, eq == absl::string_view::npos ? "" : "=",
                      absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\n", "\\n"}}));
}

void RedactNode(YAML::Node node) {
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it->first.IsScalar() && IsSecretName(it->first.Scalar()) && !it->second.IsNull()) {
        it->second = std::string(kRedacted);
      } else {
        RedactNode(it->second);
      }
    }
  } else if (node.IsSequence()) {
    for (auto item : node) RedactNode(item);
  }
}

// One "key: value    # origin" line of config::Describe.
std::string RedactConfigLine(absl::string_view line) {
  size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return std::string(line);
  absl::string_view key = line.substr(0, colon);
  absl::string_view rest = line.substr(colon + 1);
  size_t hash = rest.rfind("    # ");
  absl::string_view value = rest.substr(0, hash);
  absl::string_view origin = hash == absl::string_view::npos ? "" : rest.substr(hash);
  std::string trimmed(absl::StripAsciiWhitespace(value));
  if (IsSecretName(key)) {
    if (!trimmed.empty()) trimmed = std::string(kRedacted);
  } else if (absl::StartsWith(trimmed, "{") || absl::StartsWith(trimmed, "[")) {
    auto node = ParseYaml(trimmed, key);
    if (!node.ok()) {
      // Never print what cannot be checked.
      trimmed = absl::StrCat(kRedacted, " (not parsed: ", node.status().message(), ")");
    } else {
      RedactNode(*node);
      YAML::Emitter out;
      out << YAML::Flow << *node;
      trimmed = out.c_str();
    }
  }
  return absl::StrCat(key, ": ", trimmed, origin);
}

// The failing step: the log from its last "==> [n/m]" header on.
std::string LastStep(absl::string_view log, uint64_t max_bytes) {
  size_t start = log.rfind("\n==> [");
  start = start == absl::string_view::npos ? 0 : start + 1;
  absl::string_view step = log.substr(start);
  if (step.size() <= max_bytes) return std::string(step);
  return absl::StrCat("[... ", step.size() - max_bytes, " bytes cut; build.log has them ...]\n",
                      step.substr(step.size() - max_bytes));
}

// A path the listing script printed: relative, below the work dir.
bool IsSafeRelative(absl::string_view p) {
  if (p.empty() || p.front() == '/' || p.find('\0') != absl::string_view::npos) return false;
  for (absl::string_view part : absl::StrSplit(p, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

void CollectScripts(const DebugInput& in, Tree& tree) {
  int n = 0;
  auto render = [&](const std::vector<recipe::PhaseTemplate>& phases, absl::string_view kind) {
    for (const auto& phase : phases) {
      std::string name = absl::StrFormat("scripts/%02d-%s.sh", ++n, phase.name);
      auto text = recipe::Render(phase.script, in.vars, phase.name);
      if (!text.ok()) {
        tree.Note(absl::StrCat("could not render ", phase.name, ": ", text.status().message()));
        continue;
      }
      tree.Write(name, *text, absl::StrCat(kind, " phase ", phase.name, ", as rendered"));
    }
  };
  render(in.recipe->phases, "build");
  render(in.recipe->verify, "verify");
}

void CollectEnv(const DebugInput& in, provider::Instance* instance, const fs::path& host_tmp,
                Tree& tree) {
  tree.Write("env.txt", RedactEnv(in.env),
             "the variables the daemon gave every build phase (secrets redacted), added to "
             "the provider's base (PATH, LANG, HOME, TMPDIR)");
  if (!instance) return;
  fs::path pulled = host_tmp / "env";
  absl::Status s =
      instance->PullFile(absl::StrCat(instance->layout().out, "/", kEnvCaptureFile), pulled);
  if (!s.ok()) {
    tree.Note(absl::StrCat("the last phase left no environment (", s.message(),
                           "); a phase that sets its own EXIT trap replaces the daemon's"));
    return;
  }
  auto raw = ReadFile(pulled);
  (void)RemoveAll(pulled);
  if (!raw.ok()) {
    tree.Note(absl::StrCat("could not read the pulled environment: ", raw.status().message()));
    return;
  }
  std::vector<std::string> entries = absl::StrSplit(*raw, '\0', absl::SkipEmpty());
  std::sort(entries.begin(), entries.end());
  tree.Write("env-at-exit.txt", RedactEnv(entries),
             "the environment of the last phase that ran, as it exited (secrets redacted)");
}

void CollectFiles(const DebugInput& in, provider::Instance* instance,
                  provider::CancelToken& cancel, Tree& tree) {
  if (in.recipe->debug_files.empty()) {
    tree.Note(absl::StrCat("recipe ", in.recipe->name, " declares no debug_files"));
    return;
  }
  if (!instance) {
    tree.Note("no build instance (it was never created): no debug_files");
    return;
  }
  // The globs are checked at recipe load (recipe.h), so they go unquoted.
  // realpath keeps symlinks from leading out of the work dir.
  std::string script = absl::StrCat(
      "cd \"$SF_WORK\" || exit 0\n"
      "work=$(realpath -e .)\n"
      "shopt -s globstar nullglob dotglob\n"
      "for f in ",
      absl::StrJoin(in.recipe->debug_files, " "),
      "; do\n"
      "  [ -f \"$f\" ] && [ ! -L \"$f\" ] || continue\n"
      "  case \"$(realpath -e -- \"$f\")\" in \"$work\"/*) ;; *) continue ;; esac\n"
      "  printf '%s\\t%s\\0' \"$(stat -c %s -- \"$f\")\" \"$f\"\n"
      "done\n");
  auto listing = RunInInstance(*instance, "debug-files", std::move(script),
                               {absl::StrCat("SF_WORK=", instance->layout().work)}, cancel,
                               1 << 20);
  if (!listing.ok()) {
    tree.Note(absl::StrCat("could not list the debug_files: ", listing.status().message()));
    return;
  }
  int files = 0;
  uint64_t total = 0;
  std::vector<std::string> pulled;
  for (absl::string_view entry : absl::StrSplit(*listing, '\0', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(entry, '\t');
    uint64_t size = 0;
    if (!absl::SimpleAtoi(parts.first, &size) || !IsSafeRelative(parts.second)) {
      tree.Note(absl::StrCat("skipped an unusable debug_files entry: \"",
                             absl::CHexEscape(entry.substr(0, 200)), "\""));
      continue;
    }
    std::string rel(parts.second);
    if (files >= in.limits.max_files) {
      tree.Note(absl::StrCat("more than ", in.limits.max_files,
                             " debug_files matched; the rest are left out (first: ", rel, ")"));
      break;
    }
    if (size > in.limits.max_file_bytes || total + size > in.limits.max_total_bytes) {
      tree.Note(absl::StrCat("left out ", rel, " (", size, " bytes): over the limit of ",
                             in.limits.max_file_bytes, " bytes a file, ",
                             in.limits.max_total_bytes, " in all"));
      continue;
    }
    fs::path host = tree.top() / "files" / rel;
    absl::Status s = MakeDirs(host.parent_path());
    if (s.ok()) s = instance->PullFile(absl::StrCat(instance->layout().work, "/", rel), host);
    if (!s.ok()) {
      tree.Note(absl::StrCat("could not pull ", rel, ": ", s.message()));
      continue;
    }
    ++files;
    total += size;
    pulled.push_back(rel);
  }
  if (pulled.empty()) {
    tree.Note(absl::StrCat("no file in the work dir matched the debug_files (",
                           absl::StrJoin(in.recipe->debug_files, " "), ")"));
    return;
  }
  tree.Describe("files/", absl::StrCat("the recipe's debug_files (",
                                       absl::StrJoin(in.recipe->debug_files, " "),
                                       ") from $SF_WORK: ", absl::StrJoin(pulled, ", ")));
}

void CollectImage(const DebugInput& in, provider::Provider& provider,
                  provider::Instance* instance, provider::CancelToken& cancel, Tree& tree) {
  const v1::BuildSpec& spec = in.build->spec();
  std::string text = absl::StrCat("provider: ", provider.name(), "\n");
  auto images = provider.ListBaseImages();
  if (!images.ok()) {
    tree.Note(absl::StrCat("could not list the base images: ", images.status().message()));
  } else if (images->empty()) {
    absl::StrAppend(&text, "base image: none (local host: the ", provider.name(),
                    " provider builds on the daemon's host)\n");
  } else {
    bool found = false;
    for (const v1::BaseImage& im : *images) {
      if (im.os() != spec.os() || im.arch() != spec.arch()) continue;
      if (!im.recipe().empty() && im.recipe() != spec.recipe()) continue;
      absl::StrAppend(&text, "base image: ", im.name(), "\ndigest: ", im.digest(),
                      "\nos/arch: ", im.os(), "/", im.arch(), "\nrecipe: ", im.recipe(),
                      "\nstate: ", im.state(), "\n");
      found = true;
    }
    if (!found) {
      absl::StrAppend(&text, "base image: none of the provider's images is for ", spec.os(), "/",
                      spec.arch(), " (", spec.recipe(), ")\n");
    }
  }
  absl::StrAppend(&text, "recipe packages: ", absl::StrJoin(in.recipe->packages, " "), "\n");
  if (instance) {
    auto packages = RunInInstance(
        *instance, "package-list",
        "if command -v dpkg-query >/dev/null; then dpkg-query -W -f='${Package}\\t${Version}\\n';"
        " else echo '(no dpkg-query where the build ran)'; fi\n",
        {}, cancel, 4 << 20);
    if (packages.ok()) {
      absl::StrAppend(&text, "\ninstalled packages where the build ran:\n", *packages);
    } else {
      tree.Note(absl::StrCat("could not list the installed packages: ",
                             packages.status().message()));
    }
  }
  tree.Write("image.txt", text, "the provider, its base image (digest) and package list");
}

}  // namespace

bool IsSecretName(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  for (absl::string_view word : {"TOKEN", "SECRET", "PASSWORD", "KEY"}) {
    if (absl::StrContains(upper, word)) return true;
  }
  return false;
}

std::string RedactEnv(const std::vector<std::string>& entries) {
  std::string out;
  for (const auto& e : entries) absl::StrAppend(&out, RedactEntry(e), "\n");
  return out;
}

std::string RedactConfigText(absl::string_view text) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    absl::StrAppend(&out, RedactConfigLine(line), "\n");
  }
  return out;
}

std::string WithEnvCapture(absl::string_view script, absl::string_view env_file) {
  return absl::StrCat("trap 'env -0 > \"", env_file, "\" 2>/dev/null || true' EXIT; ", script);
}

std::string DebugTopDir(absl::string_view build_id) { return absl::StrCat(build_id, "-debug"); }

void CollectDebug(const DebugInput& in, provider::Provider& provider,
                  provider::Instance* instance, provider::CancelToken& cancel,
                  const fs::path& dir) {
  Tree tree(dir / DebugTopDir(in.build->id()));
  if (absl::Status s = RemoveAll(dir); !s.ok()) tree.Note(s.message());
  if (absl::Status s = MakeDirs(tree.top() / ".tmp"); !s.ok()) tree.Note(s.message());

  auto log = ReadFile(in.log_path);
  if (log.ok()) {
    tree.Write("failed-step.log", LastStep(*log, in.limits.max_step_log_bytes),
               "the log of the step that failed (build.log has all of it)");
  } else {
    tree.Note(absl::StrCat("could not read the build log: ", log.status().message()));
  }
  CollectScripts(in, tree);
  CollectEnv(in, instance, tree.top() / ".tmp", tree);
  CollectFiles(in, instance, cancel, tree);
  CollectImage(in, provider, instance, cancel, tree);

  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  if (auto s = google::protobuf::util::MessageToJsonString(*in.build, &json, options); s.ok()) {
    tree.Write("build.json", json, "the build: spec, digest, attempt, phases (JSON)");
  } else {
    tree.Note(absl::StrCat("could not render the build as JSON: ", s.ToString()));
  }
  if (in.effective_config.empty()) {
    tree.Note("the daemon's effective config was not given to the runner");
  } else {
    tree.Write("config.txt", in.effective_config,
               "the daemon's effective config, as sfactoryd --show-config prints it (secrets "
               "redacted)");
  }
  (void)RemoveAll(tree.top() / ".tmp");

  std::string readme = absl::StrCat(
      "Debug bundle of build ", in.build->id(), " (sfactory debug ", in.build->id(), ")\n\n",
      "error: ", in.error, "\n\ncontents:\n",
      "  build.log  the whole build log\n"
      "  *manifest*  the manifest, only when packaging got that far\n",
      absl::StrJoin(tree.contents(), "\n"), "\n");
  if (!tree.notes().empty()) {
    absl::StrAppend(&readme, "\nNotes (collecting went on past these):\n  ",
                    absl::StrJoin(tree.notes(), "\n  "), "\n");
  }
  (void)WriteFileAtomic(tree.top() / "README.txt", readme);
}

absl::StatusOr<v1::Artifact> WriteDebugBundle(const std::string& build_id, const fs::path& dir,
                                              const fs::path& log_path, const fs::path& out_dir,
                                              const fs::path& bundle, const BundleFn& write) {
  const fs::path top = dir / DebugTopDir(build_id);
  SF_RETURN_IF_ERROR(MakeDirs(top));
  // A hard link costs no space and the log is finished; a copy where
  // links do not work (another filesystem).
  const fs::path log_copy = top / "build.log";
  (void)RemoveAll(log_copy);
  if (::link(log_path.c_str(), log_copy.c_str()) != 0) {
    SF_ASSIGN_OR_RETURN(std::string text, ReadFile(log_path));
    SF_RETURN_IF_ERROR(WriteFileAtomic(log_copy, text));
  }
  std::error_code ec;
  for (auto it = fs::directory_iterator(out_dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!absl::StrContains(name, "manifest") || !it->is_regular_file()) continue;
    SF_ASSIGN_OR_RETURN(std::string text, ReadFile(it->path()));
    SF_RETURN_IF_ERROR(WriteFileAtomic(top / name, text));
  }
  SF_RETURN_IF_ERROR(write(dir, bundle));
  v1::Artifact a;
  a.set_name(absl::StrCat(build_id, "-debug.tar.gz"));
  a.set_kind("debug");
  SF_ASSIGN_OR_RETURN(std::string digest, Sha256File(bundle));
  a.set_sha256(digest);
  a.set_size(fs::file_size(bundle, ec));
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("stat ", bundle.string()));
  return a;
}

}  // namespace sfactory::runner
