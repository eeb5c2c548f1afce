// manifest.json (proto/sfactory/v1/manifest.proto) and the pieces it is
// assembled from. Rendering is deterministic: the same message gives the
// same bytes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/packaging/elf_audit.h"
#include "daemon/packaging/relocate.h"
#include "sfactory/v1/manifest.pb.h"

namespace sfactory::packaging {

inline constexpr int kManifestSchemaVersion = 1;

// Parses software/share/sfactory/bundled-libs.tsv: "soname\tpackage\tversion"
// per line; blank lines and lines starting with '#' are skipped. A missing
// file is NotFound; a line without exactly three fields is InvalidArgument
// naming the line.
absl::StatusOr<std::vector<v1::BundledLibrary>> ReadBundledLibs(const std::filesystem::path& tsv);

v1::AuditResult AuditToProto(const AuditReport& report);
v1::RelocationSummary RelocationToProto(const RelocationReport& report);

// Pretty JSON with proto field names; every field is printed, even when it
// holds its default, so readers see a stable schema. Ends with a newline.
absl::StatusOr<std::string> ManifestToJson(const v1::Manifest& manifest);
// The audit report alone, in the same form as the manifest's "audit".
absl::StatusOr<std::string> AuditReportToJson(const AuditReport& report);
// InvalidArgument when `json` is not a manifest.
absl::StatusOr<v1::Manifest> ParseManifestJson(absl::string_view json);

}  // namespace sfactory::packaging
