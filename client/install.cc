#include "client/install.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/atomic_file.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/status.h"
#include "daemon/packaging/archive.h"
#include "google/protobuf/util/json_util.h"

namespace sfactory::client {
namespace fs = std::filesystem;
namespace {

constexpr const char* kSums = "SHA256SUMS";
constexpr const char* kManifest = "manifest.json";

bool IsPathChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("._/+:,=-").find(c) != absl::string_view::npos;
}

// A name from the manifest that becomes one path component.
bool IsPlainName(absl::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
           c == '+' || c == '-';
  });
}

std::string Refetch(const fs::path& dir) {
  return absl::StrCat("delete ", dir.string(),
                      " and fetch the build's files again (sfactory fetch BUILD -o DIR), or run "
                      "sfactory install without --from");
}

// "<sha256>  <name>" lines (sha256sum's format; "*" marks binary mode).
absl::StatusOr<std::map<std::string, std::string>> ParseSums(absl::string_view text,
                                                             const fs::path& dir) {
  std::map<std::string, std::string> sums;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    absl::string_view name = parts.second;
    if (!name.empty() && (name[0] == ' ' || name[0] == '*')) name.remove_prefix(1);
    if (!IsSha256Hex(parts.first) || !IsPlainName(name) || sums.count(std::string(name)) > 0) {
      return absl::DataLossError(absl::StrCat((dir / kSums).string(), " line ", line_no,
                                              " is not \"<sha256>  <file name>\": ",
                                              Refetch(dir)));
    }
    sums[std::string(name)] = std::string(parts.first);
  }
  if (sums.empty()) {
    return absl::DataLossError(absl::StrCat((dir / kSums).string(), " lists no files: ",
                                            Refetch(dir)));
  }
  return sums;
}

absl::StatusOr<v1::Manifest> ReadManifest(const fs::path& path, const fs::path& dir) {
  SF_ASSIGN_OR_RETURN(std::string json, ReadFile(path));
  v1::Manifest manifest;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // a newer daemon may add fields
  auto parsed = google::protobuf::util::JsonStringToMessage(json, &manifest, options);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat(path.string(), " is not a build manifest (",
                                            parsed.ToString(), "): ", Refetch(dir)));
  }
  if (!IsPlainName(manifest.package_name()) || !IsPlainName(manifest.spec().slurm_version()) ||
      !IsSha256Hex(manifest.digest()) || !IsSha256Hex(manifest.tree_sha256())) {
    return absl::DataLossError(absl::StrCat(
        path.string(), " lacks a usable package name, version, digest or tree digest: ",
        Refetch(dir)));
  }
  return manifest;
}

// The artifact of `kind` the manifest lists, which SHA256SUMS must list too.
absl::StatusOr<fs::path> ArtifactOfKind(const v1::Manifest& manifest, absl::string_view kind,
                                        const std::map<std::string, std::string>& sums,
                                        const fs::path& dir) {
  const v1::Artifact* found = nullptr;
  for (const v1::Artifact& a : manifest.artifacts()) {
    if (a.kind() != kind) continue;
    if (found != nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the manifest in ", dir.string(), " lists more than one ", kind,
          " artifact; sfactory install takes one package: fetch the build into an empty dir"));
    }
    found = &a;
  }
  if (found == nullptr || !IsPlainName(found->name())) {
    return absl::NotFoundError(absl::StrCat("the manifest in ", dir.string(), " lists no ", kind,
                                            " artifact: ", Refetch(dir)));
  }
  auto it = sums.find(found->name());
  if (it == sums.end()) {
    return absl::NotFoundError(absl::StrCat(kSums, " in ", dir.string(), " does not list ",
                                            found->name(), ": ", Refetch(dir)));
  }
  if (it->second != found->sha256()) {
    return absl::DataLossError(absl::StrCat(found->name(), " has sha256 ", it->second, " in ",
                                            kSums, " but ", found->sha256(),
                                            " in the manifest: ", Refetch(dir)));
  }
  return dir / found->name();
}

absl::StatusOr<fs::path> Absolute(const fs::path& p, absl::string_view flag) {
  if (p.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " needs a directory"));
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("resolve ", p.string()));
  std::string s = abs.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  if (!std::all_of(s.begin(), s.end(), IsPathChar)) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " ", s, " has characters a module file cannot carry; choose a path of letters, "
        "digits and ._/+:,=-"));
  }
  return fs::path(s);
}

// The directory itself or the nearest ancestor that exists must be
// writable: that is where MakeDirs starts creating.
absl::Status CheckWritable(const fs::path& dir, absl::string_view flag) {
  fs::path p = dir;
  std::error_code ec;
  while (!fs::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  if (::access(p.c_str(), W_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot write in ", p.string(), " (", flag, " ", dir.string(), "): ",
        std::error_code(errno, std::generic_category()).message(),
        "; run sfactory install as a user who may write there (e.g. the software admin, or with "
        "sudo), or choose another ", flag));
  }
  return absl::OkStatus();
}

// The one exclusive install per prefix (flock: released when the fd closes,
// also when the process dies).
absl::StatusOr<Fd> LockPrefix(const fs::path& prefix) {
  fs::path path = prefix / ".sfactory-install.lock";
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "another sfactory install is running in ", prefix.string(), " (it holds ",
          path.string(), "); wait for it to finish and install again"));
    }
    return ErrnoStatus(errno, absl::StrCat("lock ", path.string()));
  }
  return fd;
}

// Every symlink below `root` must lead to a place below `root`: the
// extractor checked against the staging dir, which also holds manifest.json.
absl::Status CheckSymlinksWithin(const fs::path& root) {
  std::error_code ec;
  fs::path canonical_root = fs::canonical(root, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("resolve ", root.string()));
  fs::recursive_directory_iterator it(root, ec), end;
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("list ", root.string()));
  for (; it != end; it.increment(ec)) {
    if (ec) return ErrnoStatus(ec.value(), absl::StrCat("list ", root.string()));
    if (!it->is_symlink(ec)) continue;
    fs::path target = fs::weakly_canonical(it->path(), ec);
    auto rel = target.lexically_relative(canonical_root);
    if (ec || rel.empty() || *rel.begin() == "..") {
      return absl::InvalidArgumentError(absl::StrCat("refusing symlink ", it->path().string(),
                                                     ": it leads outside the software tree"));
    }
  }
  return absl::OkStatus();
}

struct ModuleFile {
  ModuleFlavor flavor;
  const char* flag;  // the flag that named its directory
  fs::path target;
  std::string content;
  std::optional<std::string> previous;  // the file's content before; none: no file
};

// What is there now, and so what has to be done.
struct Inspection {
  bool dir_present = false;
  std::string previous_target;
  bool link_current = false;
};

absl::StatusOr<Inspection> Inspect(const fs::path& install_dir, const fs::path& link,
                                   const v1::Manifest& manifest) {
  Inspection out;
  struct stat st;
  if (::lstat(install_dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(
          install_dir.string(), " exists and is not a directory; move it aside and install again"));
    }
    SF_ASSIGN_OR_RETURN(std::string tree, packaging::DigestTree(install_dir));
    if (tree != manifest.tree_sha256()) {
      return absl::FailedPreconditionError(absl::StrCat(
          install_dir.string(), " exists but differs from the build's software (tree digest ",
          tree, ", the manifest says ", manifest.tree_sha256(),
          "): someone changed it. Move it aside (mv ", install_dir.string(), " ",
          install_dir.string(), ".changed) and install again"));
    }
    out.dir_present = true;
  } else if (errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("stat ", install_dir.string()));
  }
  if (::lstat(link.c_str(), &st) == 0) {
    if (!S_ISLNK(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(
          link.string(), " exists and is not a symlink; sfactory install keeps it as a symlink "
          "to the current <version>-<digest12> directory: move it aside and install again"));
    }
    std::error_code ec;
    out.previous_target = fs::read_symlink(link, ec).string();
    if (ec) return ErrnoStatus(ec.value(), absl::StrCat("read link ", link.string()));
    out.link_current = out.previous_target == install_dir.filename().string();
  } else if (errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("stat ", link.string()));
  }
  return out;
}

// Reads the build's module files out of its module tarball and rewrites them.
absl::StatusOr<std::vector<ModuleFile>> PrepareModules(const VerifiedRelease& release,
                                                       const fs::path& lmod_dir,
                                                       const fs::path& tcl_dir,
                                                       const fs::path& install_dir) {
  const std::string& package = release.manifest.package_name();
  const std::string& version = release.manifest.spec().slurm_version();
  SF_ASSIGN_OR_RETURN(TempDir scratch, TempDir::Create("sfactory-install-"));
  auto extracted =
      packaging::SafeExtract(release.module_tarball, scratch.path(), {.required_top = ""});
  if (!extracted.ok()) return Annotate(extracted.status(), release.module_tarball.string());
  std::vector<ModuleFile> out;
  struct Want {
    ModuleFlavor flavor;
    const char* flag;
    fs::path dir;
    fs::path inside;  // path in the tarball
    std::string file;
  };
  std::vector<Want> wants;
  if (!lmod_dir.empty()) {
    wants.push_back({ModuleFlavor::kLmod, "--modules", lmod_dir, fs::path("modules") / package,
                     absl::StrCat(version, ".lua")});
  }
  if (!tcl_dir.empty()) {
    wants.push_back({ModuleFlavor::kTcl, "--tcl-modules", tcl_dir, fs::path("modulefiles") / package, version});
  }
  for (const Want& w : wants) {
    fs::path inside = w.inside / w.file;
    auto text = ReadFile(scratch.path() / inside);
    if (!text.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          release.module_tarball.filename().string(), " holds no ", inside.string(), " (",
          text.status().message(), "); the build's module tarball is not one sfactory install "
          "knows: install the module by hand"));
    }
    auto rewritten = RewriteRecordedPrefix(*text, w.flavor, install_dir.string());
    if (!rewritten.ok()) return Annotate(rewritten.status(), inside.string());
    ModuleFile m{w.flavor, w.flag, w.dir / package / w.file, *std::move(rewritten), std::nullopt};
    auto existing = ReadFile(m.target);
    if (existing.ok()) {
      m.previous = *std::move(existing);
    } else if (!absl::IsNotFound(existing.status())) {
      return existing.status();
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<InstallAction> Plan(const Inspection& now, const std::vector<ModuleFile>& modules,
                                const fs::path& install_dir, const fs::path& link) {
  std::vector<InstallAction> actions;
  actions.push_back({now.dir_present ? InstallActionKind::kKeepDir : InstallActionKind::kCreateDir,
                     install_dir, ""});
  for (const ModuleFile& m : modules) {
    if (m.previous == m.content) {
      actions.push_back({InstallActionKind::kKeepModule, m.target, ""});
    } else {
      actions.push_back(
          {InstallActionKind::kWriteModule, m.target, m.previous ? "replace" : "new"});
    }
  }
  actions.push_back({now.link_current ? InstallActionKind::kKeepLink
                                      : InstallActionKind::kSwitchLink,
                     link, install_dir.filename().string()});
  return actions;
}

bool Changes(const std::vector<InstallAction>& actions) {
  return std::any_of(actions.begin(), actions.end(), [](const InstallAction& a) {
    return a.kind == InstallActionKind::kCreateDir || a.kind == InstallActionKind::kWriteModule ||
           a.kind == InstallActionKind::kSwitchLink;
  });
}

// Extracts into a temp dir beside the install dir, checks, renames.
absl::Status ExtractSoftware(const VerifiedRelease& release, const fs::path& prefix,
                             const fs::path& install_dir, Env* env) {
  SF_ASSIGN_OR_RETURN(
      TempDir staging,
      TempDir::Create(absl::StrCat(".", install_dir.filename().string(), ".tmp-"), prefix));
  auto extracted =
      packaging::SafeExtract(release.software_tarball, staging.path(), {.required_top = ""});
  if (!extracted.ok()) {
    return ExplainWriteError(Annotate(extracted.status(), release.software_tarball.string()),
                             prefix);
  }
  const fs::path software = staging.path() / "software";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(staging.path(), ec)) {
    std::string name = e.path().filename().string();
    if (name != "software" && name != kManifest) {
      return absl::DataLossError(absl::StrCat(release.software_tarball.filename().string(),
                                              " holds ", name,
                                              " beside software/; it is not a software tarball "
                                              "sfactory made"));
    }
  }
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("list ", staging.path().string()));
  if (!fs::is_directory(software, ec)) {
    return absl::DataLossError(absl::StrCat(release.software_tarball.filename().string(),
                                            " holds no software/ directory"));
  }
  SF_RETURN_IF_ERROR(CheckSymlinksWithin(software));
  SF_ASSIGN_OR_RETURN(std::string tree, packaging::DigestTree(software));
  if (tree != release.manifest.tree_sha256()) {
    return absl::DataLossError(absl::StrCat(
        "the software extracted from ", release.software_tarball.filename().string(),
        " has tree digest ", tree, ", the manifest says ", release.manifest.tree_sha256(),
        ": the package is not what the build made; report it with the build id"));
  }
  SF_RETURN_IF_ERROR(env->Rename(software, install_dir));
  return env->SyncDir(prefix);
}

// What an install that died left in the prefix: staging dirs and temp
// links. Called with the lock held, so no other install is using them.
absl::Status RemoveStale(const fs::path& prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(prefix, ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] != '.') continue;
    if (absl::StrContains(name, ".tmp-") && e.is_directory(ec) && !e.is_symlink(ec)) {
      SF_RETURN_IF_ERROR(RemoveAll(e.path()));
    } else if (absl::StrContains(name, ".link.tmp.") && e.is_symlink(ec)) {
      ::unlink(e.path().c_str());
    }
  }
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("list ", prefix.string()));
  return absl::OkStatus();
}

// `failure` after some module files were replaced: puts them back as they
// were and says what is left.
absl::Status RollBack(const absl::Status& failure, const std::vector<const ModuleFile*>& committed,
                      const fs::path& install_dir, Env* env) {
  std::vector<std::string> problems;
  for (auto it = committed.rbegin(); it != committed.rend(); ++it) {
    const ModuleFile& m = **it;
    absl::Status s = m.previous ? WriteFileAtomic(m.target, *m.previous, 0644, env)
                                : env->RemoveFile(m.target);
    if (!s.ok()) problems.push_back(std::string(s.message()));
  }
  const std::string finish =
      absl::StrCat(install_dir.string(), " stays and installing again finishes the job");
  if (problems.empty()) {
    return WithMessage(failure, absl::StrCat(failure.message(),
                                             " (the previous install is as it was; ", finish, ")"));
  }
  return WithMessage(failure, absl::StrCat(failure.message(),
                                           "; putting the module files back failed too: ",
                                           absl::StrJoin(problems, "; "), " (", finish, ")"));
}

absl::Status WriteModulesAndSwitch(const std::vector<ModuleFile>& modules,
                                   const InstallReport& report, bool switch_link, Env* env) {
  std::vector<std::pair<const ModuleFile*, AtomicFile>> pending;
  for (const ModuleFile& m : modules) {
    if (m.previous == m.content) continue;
    absl::Status made = MakeDirs(m.target.parent_path());
    if (!made.ok()) return Annotate(ExplainWriteError(made, m.target.parent_path()), "module dir");
    auto file = AtomicFile::Create(m.target, {.mode = 0644, .env = env});
    if (!file.ok()) return file.status();
    SF_RETURN_IF_ERROR(file->Append(m.content));
    // Everyone loads module files: 0644 whatever the admin's umask.
    if (::chmod(file->temp_path().c_str(), 0644) != 0) {
      return ErrnoStatus(errno, absl::StrCat("chmod ", file->temp_path().string()));
    }
    pending.emplace_back(&m, *std::move(file));
  }
  std::vector<const ModuleFile*> committed;
  for (auto& [m, file] : pending) {
    absl::Status s = file.Commit();
    if (!s.ok()) return RollBack(s, committed, report.install_dir, env);
    committed.push_back(m);
  }
  if (!switch_link) return absl::OkStatus();

  const fs::path prefix = report.link.parent_path();
  const fs::path temp =
      prefix / absl::StrCat(".", report.link.filename().string(), ".link.tmp.", ::getpid());
  ::unlink(temp.c_str());
  if (::symlink(report.install_dir.filename().c_str(), temp.c_str()) != 0) {
    absl::Status s = ErrnoStatus(errno, absl::StrCat("symlink ", temp.string()));
    return RollBack(s, committed, report.install_dir, env);
  }
  if (absl::Status s = env->Rename(temp, report.link); !s.ok()) {
    ::unlink(temp.c_str());
    return RollBack(s, committed, report.install_dir, env);
  }
  return env->SyncDir(prefix);
}

struct ActionWords {
  const char* planned;  // dry run, indented
  const char* done;
  const char* note;
};

const ActionWords& WordsFor(InstallActionKind kind) {
  static const ActionWords kCreate{"  create ", "created ", ""};
  static const ActionWords kKeepDir{"  keep   ", "kept    ", " (already there)"};
  static const ActionWords kWrite{"  write  ", "wrote   ", ""};
  static const ActionWords kKeepModule{"  keep   ", "kept    ", " (unchanged)"};
  static const ActionWords kSwitch{"  switch ", "switched ", ""};
  static const ActionWords kKeepLink{"  keep   ", "kept    ", ""};
  switch (kind) {
    case InstallActionKind::kCreateDir: return kCreate;
    case InstallActionKind::kKeepDir: return kKeepDir;
    case InstallActionKind::kWriteModule: return kWrite;
    case InstallActionKind::kKeepModule: return kKeepModule;
    case InstallActionKind::kSwitchLink: return kSwitch;
    case InstallActionKind::kKeepLink: return kKeepLink;
  }
  return kKeepLink;
}

}  // namespace

absl::string_view ActionName(InstallActionKind kind) {
  switch (kind) {
    case InstallActionKind::kCreateDir: return "create_dir";
    case InstallActionKind::kKeepDir: return "keep_dir";
    case InstallActionKind::kWriteModule: return "write_module";
    case InstallActionKind::kKeepModule: return "keep_module";
    case InstallActionKind::kSwitchLink: return "switch_link";
    case InstallActionKind::kKeepLink: return "keep_link";
  }
  return "unknown";
}

absl::StatusOr<std::string> RewriteRecordedPrefix(absl::string_view text, ModuleFlavor flavor,
                                                  absl::string_view root) {
  if (root.empty() || root[0] != '/' || !std::all_of(root.begin(), root.end(), IsPathChar)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot record ", root, " in a module file: it must be an absolute path of letters, "
        "digits and ._/+:,=-"));
  }
  const bool lua = flavor == ModuleFlavor::kLmod;
  const absl::string_view lead = lua ? "local recorded" : "set recorded";
  const absl::string_view open = lua ? "local recorded = \"" : "set recorded {";
  const absl::string_view close = lua ? "\"" : "}";
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  int found = 0;
  for (std::string& line : lines) {
    if (!absl::StartsWith(line, lead)) continue;
    ++found;
    absl::string_view inner = line;
    bool well_formed = absl::ConsumePrefix(&inner, open) && absl::ConsumeSuffix(&inner, close) &&
                       inner.find_first_of(lua ? "\"\\" : "{}") == absl::string_view::npos;
    if (!well_formed) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the module file's line \"", line, "\" is not of the form ", open, "...", close,
          "; sfactory install rewrites only that form (templates/modules): install the module "
          "by hand and set SLURM_INSTALL_PREFIX"));
    }
    line = absl::StrCat(open, root, close);
  }
  if (found != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the module file has ", found, " lines starting with \"", lead,
        "\", sfactory install needs exactly one to point it at the install dir; the build's "
        "module templates are not sfactory's (templates/modules): install the module by hand "
        "and set SLURM_INSTALL_PREFIX"));
  }
  return absl::StrJoin(lines, "\n");
}

absl::StatusOr<VerifiedRelease> VerifyRelease(const fs::path& dir,
                                              const std::optional<v1::Build>& build) {
  auto sums_text = ReadFile(dir / kSums);
  if (!sums_text.ok()) {
    if (!absl::IsNotFound(sums_text.status())) return sums_text.status();
    return absl::NotFoundError(absl::StrCat(
        "no ", kSums, " in ", dir.string(),
        ": it is not a directory of a build's files (sfactory fetch BUILD -o DIR makes one)"));
  }
  SF_ASSIGN_OR_RETURN(auto sums, ParseSums(*sums_text, dir));
  for (const auto& [name, want] : sums) {
    auto got = Sha256File(dir / name);
    if (!got.ok()) {
      if (absl::IsNotFound(got.status())) {
        return absl::NotFoundError(absl::StrCat(dir.string(), " lacks ", name, ", which ", kSums,
                                                " lists: ", Refetch(dir)));
      }
      return got.status();
    }
    if (*got != want) {
      return absl::DataLossError(absl::StrCat((dir / name).string(), " has sha256 ", *got,
                                              " but ", kSums, " says ", want,
                                              ": the file is damaged or was changed; ",
                                              Refetch(dir)));
    }
  }
  if (sums.count(kManifest) == 0) {
    return absl::NotFoundError(absl::StrCat(kSums, " in ", dir.string(), " does not list ",
                                            kManifest, ": ", Refetch(dir)));
  }
  VerifiedRelease out;
  SF_ASSIGN_OR_RETURN(out.manifest, ReadManifest(dir / kManifest, dir));
  SF_ASSIGN_OR_RETURN(out.software_tarball, ArtifactOfKind(out.manifest, "software", sums, dir));
  SF_ASSIGN_OR_RETURN(out.module_tarball, ArtifactOfKind(out.manifest, "module", sums, dir));
  if (!build) return out;

  if (build->digest() != out.manifest.digest()) {
    return absl::DataLossError(absl::StrCat(
        "the files in ", dir.string(), " are of build digest ", out.manifest.digest(),
        ", but build ", build->id(), " has digest ", build->digest(), ": ", Refetch(dir)));
  }
  for (const v1::Artifact& a : build->artifacts()) {
    auto listed = sums.find(a.name());
    std::string have;
    if (listed != sums.end()) {
      have = listed->second;  // the file was checked against it above
    } else {
      auto got = IsPlainName(a.name()) ? Sha256File(dir / a.name())
                                       : absl::StatusOr<std::string>(absl::NotFoundError(""));
      if (!got.ok()) {
        return absl::NotFoundError(absl::StrCat(dir.string(), " lacks ", a.name(), " of build ",
                                                build->id(), ": ", Refetch(dir)));
      }
      have = *got;
    }
    if (have != a.sha256()) {
      return absl::DataLossError(absl::StrCat((dir / a.name()).string(), " has sha256 ", have,
                                              ", build ", build->id(), " lists ", a.sha256(),
                                              ": ", Refetch(dir)));
    }
  }
  return out;
}

absl::StatusOr<InstallReport> Install(const InstallRequest& request) {
  Env* env = request.env != nullptr ? request.env : Env::Default();
  if (request.lmod_dir.empty() && request.tcl_dir.empty()) {
    return absl::InvalidArgumentError(
        "give --modules DIR (Lmod) or --tcl-modules DIR (Tcl modulefiles), or both: where the "
        "module files go");
  }
  SF_ASSIGN_OR_RETURN(fs::path prefix, Absolute(request.prefix, "--prefix"));
  fs::path lmod_dir, tcl_dir;
  if (!request.lmod_dir.empty()) {
    SF_ASSIGN_OR_RETURN(lmod_dir, Absolute(request.lmod_dir, "--modules"));
  }
  if (!request.tcl_dir.empty()) {
    SF_ASSIGN_OR_RETURN(tcl_dir, Absolute(request.tcl_dir, "--tcl-modules"));
  }

  // 1. Verify everything before anything is touched.
  SF_ASSIGN_OR_RETURN(VerifiedRelease release, VerifyRelease(request.artifacts_dir, request.build));
  const v1::Manifest& m = release.manifest;
  if (!request.expected_build_id.empty() && m.build_id() != request.expected_build_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        request.artifacts_dir.string(), " holds the files of build ", m.build_id(), ", not ",
        request.expected_build_id, ": name that build, or give the directory that holds ",
        request.expected_build_id, "'s files"));
  }
  InstallReport report;
  report.build_id = m.build_id();
  report.package = m.package_name();
  report.version = m.spec().slurm_version();
  report.digest = m.digest();
  report.mode = request.mode;
  report.install_dir = prefix / absl::StrCat(report.version, "-", report.digest.substr(0, 12));
  report.link = prefix / report.version;
  SF_ASSIGN_OR_RETURN(std::vector<ModuleFile> modules,
                      PrepareModules(release, lmod_dir, tcl_dir, report.install_dir));

  SF_ASSIGN_OR_RETURN(Inspection now, Inspect(report.install_dir, report.link, m));
  report.previous_target = now.previous_target;
  report.actions = Plan(now, modules, report.install_dir, report.link);
  report.changed = Changes(report.actions);
  if (!report.changed) return report;
  // A plan that cannot be carried out says so in a dry run too.
  if (!now.dir_present || !now.link_current) {
    SF_RETURN_IF_ERROR(CheckWritable(prefix, "--prefix"));
  }
  for (const ModuleFile& mf : modules) {
    if (mf.previous != mf.content) {
      SF_RETURN_IF_ERROR(CheckWritable(mf.target.parent_path(), mf.flag));
    }
  }
  if (request.mode == InstallMode::kDryRun) return report;

  // Another install may have run since the look above: look again, locked.
  SF_RETURN_IF_ERROR(ExplainWriteError(MakeDirs(prefix), prefix));
  SF_ASSIGN_OR_RETURN(Fd lock, LockPrefix(prefix));
  SF_RETURN_IF_ERROR(RemoveStale(prefix));
  SF_ASSIGN_OR_RETURN(now, Inspect(report.install_dir, report.link, m));
  SF_ASSIGN_OR_RETURN(modules,
                      PrepareModules(release, lmod_dir, tcl_dir, report.install_dir));
  report.previous_target = now.previous_target;
  report.actions = Plan(now, modules, report.install_dir, report.link);
  report.changed = Changes(report.actions);
  if (!report.changed) return report;

  // 2. The software, complete and checked, under its final name.
  if (!now.dir_present) {
    absl::Status s = ExtractSoftware(release, prefix, report.install_dir, env);
    if (!s.ok()) return WithMessage(s, absl::StrCat(s.message(), " (nothing was changed)"));
  }
  // 3. and 4. Module files, then the symlink.
  SF_RETURN_IF_ERROR(WriteModulesAndSwitch(modules, report, !now.link_current, env));
  return report;
}

std::string DescribeInstall(const InstallReport& r) {
  const bool dry = r.mode == InstallMode::kDryRun;
  std::string out;
  if (!r.changed) {
    return absl::StrCat(r.package, " ", r.version, " (build ", r.build_id,
                        ") is already installed in ", r.install_dir.string(),
                        ", with its module files and ", r.link.string(),
                        " pointing at it: nothing to do\n");
  }
  if (dry) absl::StrAppend(&out, "dry run, nothing changed; sfactory install would:\n");
  for (const InstallAction& a : r.actions) {
    const ActionWords& w = WordsFor(a.kind);
    std::string detail;
    if (a.kind == InstallActionKind::kWriteModule) detail = absl::StrCat(" (", a.detail, ")");
    if (a.kind == InstallActionKind::kKeepLink) detail = absl::StrCat(" -> ", a.detail);
    if (a.kind == InstallActionKind::kSwitchLink) {
      detail = absl::StrCat(" -> ", a.detail,
                            r.previous_target.empty()
                                ? " (new)"
                                : absl::StrCat(" (was ", r.previous_target, ")"));
    }
    absl::StrAppend(&out, dry ? w.planned : w.done, a.path.string(), detail, w.note, "\n");
  }
  if (dry) return out;
  absl::StrAppend(&out, "installed ", r.package, " ", r.version, " (build ", r.build_id, ") in ",
                  r.install_dir.string(), "\n");
  if (!r.previous_target.empty() && r.previous_target != r.install_dir.filename().string()) {
    absl::StrAppend(&out, "the previous install ", (r.link.parent_path() / r.previous_target).string(),
                    " stays for jobs that still run from it; remove it when none does\n");
  }
  // <dir>/<package>/<version>[.lua]: users need <dir> on MODULEPATH.
  for (const InstallAction& a : r.actions) {
    if (a.kind != InstallActionKind::kWriteModule && a.kind != InstallActionKind::kKeepModule) {
      continue;
    }
    absl::StrAppend(&out, "load it with: module use ", a.path.parent_path().parent_path().string(),
                    "; module load ", r.package, "/", r.version, "\n");
    break;
  }
  return out;
}

}  // namespace sfactory::client
