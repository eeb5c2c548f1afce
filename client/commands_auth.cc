// whoami, tokens create|list|revoke: who the daemon takes the caller for,
// and the bearer tokens of TCP callers (admins only).
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output.h"
#include "common/status.h"

namespace sfactory::client {
namespace {

constexpr int64_t kMaxExpirySeconds = int64_t{100} * 365 * 86400;

std::string ViaText(const std::string& via) {
  if (via == "unix-socket") return "unix socket (your uid)";
  if (via == "token") return "bearer token";
  if (via == "certificate") return "client certificate";
  return via.empty() ? "-" : via;
}

std::string YesNo(bool b) { return b ? "yes" : "no"; }

std::string OrNever(const google::protobuf::Timestamp& ts) {
  return IsSet(ts) ? FormatLocalTime(ts) : "never";
}

}  // namespace

absl::StatusOr<int64_t> ParseExpiry(absl::string_view text) {
  if (text == "never") return 0;
  auto bad = [&] {
    return UsageError(
        absl::StrCat("--expires takes Nd, Nh, Nm, Ns (e.g. 90d) or never, not \"", text, "\""));
  };
  if (text.size() < 2) return bad();
  int64_t unit = 0;
  switch (text.back()) {
    case 'd':
      unit = 86400;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'm':
      unit = 60;
      break;
    case 's':
      unit = 1;
      break;
    default:
      return bad();
  }
  absl::string_view digits = text.substr(0, text.size() - 1);
  for (char c : digits) {
    if (c < '0' || c > '9') return bad();
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(digits, &n) || n <= 0) return bad();
  if (n > kMaxExpirySeconds / unit) {
    return UsageError(
        "--expires is more than 100 years; say never for a token that does not expire");
  }
  return n * unit;
}

absl::Status WhoAmICommand(CommandContext& ctx) {
  v1::WhoAmIResponse me;
  SF_RETURN_IF_ERROR(ctx.Call([&](Connection& conn, grpc::ClientContext& c) {
    return conn.auth().WhoAmI(&c, v1::WhoAmIRequest(), &me);
  }));
  if (ctx.json()) return PrintJson(ctx, me);
  KeyValues kv;
  kv.Add("name", me.name());
  kv.Add("via", ViaText(me.via()));
  if (me.via() == "unix-socket") kv.Add("uid", absl::StrCat(me.uid()));
  kv.Add("admin", YesNo(me.admin()));
  if (!me.token().empty()) kv.Add("token", me.token());
  ctx.out() << kv.Render();
  return absl::OkStatus();
}

absl::Status TokensCreateCommand(CommandContext& ctx) {
  const ParsedArgs& a = ctx.args();
  v1::CreateTokenRequest request;
  request.set_name(a.positional()[0]);
  request.set_user(a.String("user"));
  request.set_admin(a.Bool("admin"));
  SF_ASSIGN_OR_RETURN(int64_t expires, ParseExpiry(a.String("expires", "90d")));
  request.set_expires_in_seconds(expires);
  v1::CreateTokenResponse response;
  SF_RETURN_IF_ERROR(ctx.Call([&](Connection& conn, grpc::ClientContext& c) {
    return conn.auth().CreateToken(&c, request, &response);
  }));
  const v1::Token& t = response.token();
  ctx.err() << "created token " << CellText(t.name()) << " for user " << CellText(t.user())
            << (t.admin() ? " (admin)" : "") << ", expires " << OrNever(t.expires_at()) << "\n"
            << "The token follows on stdout. It is shown only this once and cannot be shown "
               "again:\nstore it now (a file of mode 600 for --token-file, or your CI's secret "
               "store for SFACTORY_TOKEN).\n"
            << std::flush;
  if (ctx.json()) return PrintJson(ctx, response);
  ctx.out() << response.secret() << "\n" << std::flush;
  return absl::OkStatus();
}

absl::Status TokensListCommand(CommandContext& ctx) {
  v1::ListTokensResponse response;
  SF_RETURN_IF_ERROR(ctx.Call([&](Connection& conn, grpc::ClientContext& c) {
    return conn.auth().ListTokens(&c, v1::ListTokensRequest(), &response);
  }));
  return PrintListing(ctx, response, response.tokens_size(), "no tokens", [&] {
    Table table({"NAME", "USER", "ADMIN", "CREATED BY", "CREATED", "LAST USED", "EXPIRES"});
    for (const v1::Token& t : response.tokens()) {
      table.Add({t.name(), t.user(), YesNo(t.admin()), t.created_by(),
                 FormatLocalTime(t.created_at()), OrNever(t.last_used_at()),
                 OrNever(t.expires_at())});
    }
    return table.Render();
  });
}

absl::Status TokensRevokeCommand(CommandContext& ctx) {
  v1::RevokeTokenRequest request;
  request.set_name(ctx.args().positional()[0]);
  v1::Token token;
  SF_RETURN_IF_ERROR(ctx.Call([&](Connection& conn, grpc::ClientContext& c) {
    return conn.auth().RevokeToken(&c, request, &token);
  }));
  if (ctx.json()) return PrintJson(ctx, token);
  ctx.out() << CellText(token.name()) << "  revoked\n";
  ctx.err() << "callers with this token are refused from now on\n" << std::flush;
  return absl::OkStatus();
}

}  // namespace sfactory::client
