#include "daemon/packaging/manifest.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/fs.h"
#include "common/status.h"

namespace sfactory::packaging {
namespace {

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("render JSON: ", status.ToString()));
  }
  if (out.empty() || out.back() != '\n') out.push_back('\n');
  return out;
}

}  // namespace

absl::StatusOr<std::vector<v1::BundledLibrary>> ReadBundledLibs(const std::filesystem::path& tsv) {
  SF_ASSIGN_OR_RETURN(std::string text, ReadFile(tsv));
  std::vector<v1::BundledLibrary> libs;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    if (fields.size() != 3 || fields[0].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          tsv.string(), " line ", line_no, ": expected soname<TAB>package<TAB>version"));
    }
    v1::BundledLibrary lib;
    lib.set_soname(fields[0]);
    lib.set_package(fields[1]);
    lib.set_version(fields[2]);
    libs.push_back(std::move(lib));
  }
  return libs;
}

v1::AuditResult AuditToProto(const AuditReport& report) {
  v1::AuditResult out;
  out.set_ok(report.ok);
  out.set_elf_files(report.elf_files);
  for (const Finding& f : report.findings) {
    v1::AuditFinding* pf = out.add_findings();
    pf->set_file(f.file);
    pf->set_problem(f.problem);
  }
  for (const std::string& s : report.resolved_in_tree) out.add_resolved_in_tree(s);
  for (const std::string& s : report.baseline) out.add_baseline(s);
  return out;
}

v1::RelocationSummary RelocationToProto(const RelocationReport& report) {
  v1::RelocationSummary out;
  for (const std::string& s : report.library_dirs) out.add_library_dirs(s);
  out.set_patched_elf_files(report.patched_elf_files);
  for (const std::string& s : report.removed_files) out.add_removed_files(s);
  for (const std::string& s : report.rewritten_pkgconfig) out.add_rewritten_pkgconfig(s);
  return out;
}

absl::StatusOr<std::string> ManifestToJson(const v1::Manifest& manifest) { return ToJson(manifest); }

absl::StatusOr<std::string> AuditReportToJson(const AuditReport& report) {
  return ToJson(AuditToProto(report));
}

absl::StatusOr<v1::Manifest> ParseManifestJson(absl::string_view json) {
  v1::Manifest manifest;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &manifest);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("parse manifest: ", status.ToString()));
  }
  return manifest;
}

}  // namespace sfactory::packaging
