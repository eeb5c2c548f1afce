// Text that came from somebody else (a request field, a build log, a
// file name), made safe to put into a message or onto a terminal.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace sfactory {

// `input` in single quotes, control characters escaped (\n, \x1b, ...), cut
// to `max_bytes` with "...(N bytes)" when longer: error messages echo what
// the caller sent without growing past gRPC's metadata limits.
std::string EchoInput(absl::string_view input, size_t max_bytes = 80);

// Escapes every control character but newline and tab as \xNN: the C0 set
// (ESC, CR, BEL, ...), DEL, and the C1 set as UTF-8 (U+0080..U+009F, which
// some terminals take as CSI and OSC), so that bytes written to a terminal
// cannot move the cursor, retitle the window or clear the screen. Other
// bytes, UTF-8 text included, pass unchanged.
std::string EscapeControl(absl::string_view bytes);

}  // namespace sfactory
