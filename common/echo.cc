#include "common/echo.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sfactory {
namespace {

void AppendEscaped(std::string* out, unsigned char c, bool keep_newline) {
  if (c == '\t' || (keep_newline && c == '\n')) {
    out->push_back(static_cast<char>(c));
  } else if (c == '\n') {
    out->append("\\n");
  } else if (c < 0x20 || c == 0x7f) {
    absl::StrAppendFormat(out, "\\x%02x", c);
  } else {
    out->push_back(static_cast<char>(c));
  }
}

}  // namespace

std::string EchoInput(absl::string_view input, size_t max_bytes) {
  std::string out = "'";
  absl::string_view shown = input.substr(0, max_bytes);
  for (char c : shown) AppendEscaped(&out, static_cast<unsigned char>(c), /*keep_newline=*/false);
  out.push_back('\'');
  if (input.size() > shown.size()) absl::StrAppend(&out, "...(", input.size(), " bytes)");
  return out;
}

std::string EscapeControl(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    auto next = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0;
    if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {  // a C1 control in UTF-8
      absl::StrAppendFormat(&out, "\\xc2\\x%02x", next);
      ++i;
      continue;
    }
    AppendEscaped(&out, c, /*keep_newline=*/true);
  }
  return out;
}

}  // namespace sfactory
