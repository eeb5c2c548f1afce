#include "daemon/packaging/package.h"

#include <sys/stat.h>

#include <chrono>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/status.h"
#include "daemon/packaging/manifest.h"
#include "daemon/packaging/module.h"
#include "daemon/packaging/version.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;

class Stopwatch {
 public:
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

std::string Mb(uint64_t bytes) { return absl::StrFormat("%.1f MB", bytes / 1e6); }

// Removes what it tracks unless released: no half-written release in out_dir.
class OutputGuard {
 public:
  ~OutputGuard() {
    for (const fs::path& p : paths_) {
      std::error_code ec;
      fs::remove(p, ec);
    }
  }
  void Track(const fs::path& p) { paths_.push_back(p); }
  void Release() { paths_.clear(); }

 private:
  std::vector<fs::path> paths_;
};

absl::StatusOr<PackagedFile> Describe(const fs::path& path, std::string kind) {
  PackagedFile f;
  f.path = path;
  f.kind = std::move(kind);
  SF_ASSIGN_OR_RETURN(f.sha256, Sha256File(path));
  std::error_code ec;
  f.size = fs::file_size(path, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("stat ", path.string()));
  return f;
}

bool ValidPart(const std::string& s) {
  return !s.empty() && s.find('/') == std::string::npos && s != "." && s != "..";
}

}  // namespace

absl::StatusOr<std::string> ArtifactBaseName(const std::string& package_name,
                                             const v1::BuildSpec& spec) {
  std::vector<std::string> parts = {package_name, spec.slurm_version(), spec.recipe(), spec.os(),
                                    spec.arch()};
  for (const std::string& p : parts) {
    if (!ValidPart(p)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "artifact name needs package, version, recipe, os and arch without '/', got \"",
          absl::StrJoin(parts, "\", \""), "\""));
    }
  }
  return absl::StrJoin(parts, "-");
}

absl::StatusOr<PackageResult> Package(const PackageRequest& request,
                                      const std::function<void(absl::string_view)>& log) {
  Stopwatch total;
  SF_ASSIGN_OR_RETURN(std::string base, ArtifactBaseName(request.package_name, request.spec));
  if (request.install_prefix.empty() || request.install_prefix[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "install prefix must be an absolute path, got \"", request.install_prefix, "\""));
  }
  const fs::path stage = request.work_dir / "stage";
  const fs::path software = stage / "software";
  const fs::path module_root = request.work_dir / "module";
  SF_RETURN_IF_ERROR(MakeDirs(stage));
  SF_RETURN_IF_ERROR(MakeDirs(module_root));

  // 1. Extract.
  {
    Stopwatch t;
    auto stats = SafeExtract(request.tree_tar, stage, {.required_top = "software"});
    if (!stats.ok()) return Annotate(stats.status(), request.tree_tar.string());
    std::error_code ec;
    if (!fs::is_directory(software, ec)) {
      return absl::InvalidArgumentError(
          absl::StrCat(request.tree_tar.string(), " holds no software/ directory"));
    }
    log(absl::StrFormat("package: extracted %d entries (%s) in %.1fs", stats->entries,
                        Mb(stats->bytes), t.Seconds()));
  }

  // 2. Relocate.
  PackageResult result;
  {
    Stopwatch t;
    RelocateOptions options;
    options.install_prefix = request.install_prefix;
    SF_ASSIGN_OR_RETURN(result.relocation, Relocate(software, options));
    const RelocationReport& r = result.relocation;
    log(absl::StrFormat(
        "package: relocated in %.1fs: %d of %d dynamic ELF files patched, library dirs [%s], "
        "%d .la removed, %d .pc rewritten",
        t.Seconds(), r.patched_elf_files, r.dynamic_elf_files, absl::StrJoin(r.library_dirs, ", "),
        r.removed_files.size(), r.rewritten_pkgconfig.size()));
  }

  // 3. Audit.
  {
    Stopwatch t;
    AuditOptions options;
    options.baseline_sonames = request.baseline_sonames;
    options.forbidden_paths = request.build_paths;
    options.forbidden_paths.push_back(request.install_prefix);
    SF_ASSIGN_OR_RETURN(result.audit, AuditTree(software, options));
    const AuditReport& a = result.audit;
    if (!a.ok) {
      std::vector<std::string> lines;
      for (const Finding& f : a.findings) {
        log(absl::StrCat("audit: ", f.file, ": ", f.problem));
        lines.push_back(absl::StrCat(f.file, ": ", f.problem));
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "relocation audit found ", a.findings.size(), " problem(s): ",
          absl::StrJoin(lines, "; ")));
    }
    log(absl::StrFormat("package: audit passed in %.1fs: %d ELF files, %d sonames resolved inside",
                        t.Seconds(), a.elf_files, a.resolved_in_tree.size()));
  }

  // 4. The manifest inside the software archive.
  v1::Manifest manifest;
  manifest.set_schema_version(kManifestSchemaVersion);
  manifest.set_package_name(request.package_name);
  *manifest.mutable_spec() = request.spec;
  manifest.set_build_id(request.build_id);
  manifest.set_digest(request.digest);
  manifest.set_install_prefix(request.install_prefix);
  manifest.set_source_date_epoch(request.source_date_epoch);
  manifest.set_sfactory_version(std::string(SfactoryVersion()));
  for (const auto& phase : request.phases) *manifest.add_phases() = phase;
  for (const auto& source : request.sources) *manifest.add_sources() = source;
  *manifest.mutable_audit() = AuditToProto(result.audit);
  *manifest.mutable_relocation() = RelocationToProto(result.relocation);
  {
    auto libs = ReadBundledLibs(software / "share/sfactory/bundled-libs.tsv");
    if (libs.ok()) {
      for (auto& lib : *libs) *manifest.add_bundled_libraries() = std::move(lib);
    } else if (!absl::IsNotFound(libs.status())) {
      return libs.status();
    }
  }
  {
    Stopwatch t;
    SF_ASSIGN_OR_RETURN(std::string tree_sha, DigestTree(software));
    manifest.set_tree_sha256(tree_sha);
    log(absl::StrFormat("package: tree digest %s in %.1fs", tree_sha, t.Seconds()));
  }
  {
    // Inside the archive only what the build digest determines, so every
    // build of one digest gives byte-identical archives; the build id and
    // timings go to the standalone manifest.json.
    v1::Manifest embedded = manifest;
    embedded.clear_build_id();
    embedded.clear_phases();
    SF_ASSIGN_OR_RETURN(std::string json, ManifestToJson(embedded));
    SF_RETURN_IF_ERROR(WriteFileAtomic(stage / "manifest.json", json));
  }

  OutputGuard guard;
  // 5. Software archive.
  const fs::path software_path =
      request.out_dir / absl::StrCat(base, "-software", ArchiveSuffix(request.compression));
  {
    Stopwatch t;
    ArchiveOptions options;
    options.compression = request.compression;
    options.mtime = request.source_date_epoch;
    guard.Track(software_path);
    SF_ASSIGN_OR_RETURN(ArchiveStats stats, WriteDeterministicArchive(stage, software_path, options));
    log(absl::StrFormat("package: wrote %s: %d entries, %s -> %s in %.1fs",
                        software_path.filename().string(), stats.entries, Mb(stats.content_bytes),
                        Mb(stats.archive_bytes), t.Seconds()));
  }

  // 6. Module archive.
  const fs::path module_path = request.out_dir / absl::StrCat(base, "-module.tar.gz");
  {
    ModuleRequest mr;
    mr.templates_dir = request.module_templates_dir;
    mr.package_name = request.package_name;
    mr.spec = request.spec;
    mr.build_id = request.build_id;
    mr.digest = request.digest;
    mr.install_prefix = request.install_prefix;
    SF_ASSIGN_OR_RETURN(RenderedModules modules, RenderModules(mr));
    SF_RETURN_IF_ERROR(WriteModuleTree(module_root, mr, modules));
    ArchiveOptions options;
    options.compression = Compression::kGzip;
    options.mtime = request.source_date_epoch;
    guard.Track(module_path);
    SF_ASSIGN_OR_RETURN(ArchiveStats stats,
                        WriteDeterministicArchive(module_root, module_path, options));
    log(absl::StrFormat("package: wrote %s (%d bytes)", module_path.filename().string(),
                        stats.archive_bytes));
  }

  // 7. Standalone manifest and SHA256SUMS.
  SF_ASSIGN_OR_RETURN(PackagedFile software_file, Describe(software_path, "software"));
  SF_ASSIGN_OR_RETURN(PackagedFile module_file, Describe(module_path, "module"));
  for (const PackagedFile* f : {&software_file, &module_file}) {
    v1::Artifact* a = manifest.add_artifacts();
    a->set_name(f->path.filename().string());
    a->set_sha256(f->sha256);
    a->set_size(f->size);
    a->set_kind(f->kind);
  }
  const fs::path manifest_path = request.out_dir / "manifest.json";
  {
    SF_ASSIGN_OR_RETURN(std::string json, ManifestToJson(manifest));
    guard.Track(manifest_path);
    SF_RETURN_IF_ERROR(WriteFileAtomic(manifest_path, json));
  }
  SF_ASSIGN_OR_RETURN(PackagedFile manifest_file, Describe(manifest_path, "manifest"));

  const fs::path sums_path = request.out_dir / "SHA256SUMS";
  {
    std::vector<const PackagedFile*> listed = {&software_file, &module_file, &manifest_file};
    std::sort(listed.begin(), listed.end(), [](const PackagedFile* a, const PackagedFile* b) {
      return a->path.filename().string() < b->path.filename().string();
    });
    std::string sums;
    for (const PackagedFile* f : listed) {
      absl::StrAppend(&sums, f->sha256, "  ", f->path.filename().string(), "\n");
    }
    guard.Track(sums_path);
    SF_RETURN_IF_ERROR(WriteFileAtomic(sums_path, sums));
  }
  SF_ASSIGN_OR_RETURN(PackagedFile sums_file, Describe(sums_path, "checksums"));

  guard.Release();
  result.files = {software_file, module_file, manifest_file, sums_file};
  result.manifest = std::move(manifest);
  log(absl::StrFormat("package: done in %.1fs", total.Seconds()));
  return result;
}

}  // namespace sfactory::packaging
