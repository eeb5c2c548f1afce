#include "daemon/auth/admins.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"

namespace sfactory::auth {
namespace {

// A passwd entry looked up without the static buffer of getpwuid.
struct Account {
  std::string name;
  gid_t gid = 0;
};

std::optional<Account> LookupUid(uid_t uid) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  struct passwd pw;
  struct passwd* found = nullptr;
  while (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == ERANGE) buf.resize(buf.size() * 2);
  if (found == nullptr) return std::nullopt;
  return Account{pw.pw_name, pw.pw_gid};
}

std::optional<std::string> GroupName(gid_t gid) {
  long size = ::sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  struct group gr;
  struct group* found = nullptr;
  while (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == ERANGE) buf.resize(buf.size() * 2);
  if (found == nullptr) return std::nullopt;
  return std::string(gr.gr_name);
}

bool Listed(const std::vector<std::string>& list, absl::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

}  // namespace

std::string Caller::Describe() const {
  switch (via) {
    case Via::kUnixSocket:
      return uid ? absl::StrCat(name, " (uid ", *uid, ")") : name;
    case Via::kToken:
      return absl::StrCat(name, " (token ", token_name, ")");
    case Via::kCertificate:
      return absl::StrCat(name, " (certificate)");
  }
  return name;
}

std::string UserName(uid_t uid) {
  std::optional<Account> a = LookupUid(uid);
  return a ? a->name : absl::StrCat("uid-", uid);
}

std::vector<std::string> GroupsOf(const std::string& user, gid_t primary_gid) {
  int n = 64;
  std::vector<gid_t> gids(static_cast<size_t>(n));
  while (::getgrouplist(user.c_str(), primary_gid, gids.data(), &n) < 0) {
    gids.resize(static_cast<size_t>(n) + 16);
    n = static_cast<int>(gids.size());
  }
  gids.resize(static_cast<size_t>(n));
  std::vector<std::string> names;
  for (gid_t g : gids) {
    if (auto name = GroupName(g)) names.push_back(*name);
  }
  return names;
}

bool InGroup(uid_t uid, absl::string_view group) {
  std::optional<Account> a = LookupUid(uid);
  if (!a) return false;
  return Listed(GroupsOf(a->name, a->gid), group);
}

bool Admins::IsAdminUser(uid_t uid) const {
  if (uid == 0) return true;
  std::optional<Account> a = LookupUid(uid);
  if (!a) return false;
  if (Listed(rules_.users, a->name)) return true;
  if (rules_.groups.empty()) return false;
  for (const auto& g : GroupsOf(a->name, a->gid)) {
    if (Listed(rules_.groups, g)) return true;
  }
  return false;
}

bool Admins::IsAdminName(absl::string_view name) const { return Listed(rules_.users, name); }

std::string Admins::Describe() const {
  return absl::StrCat("root, users [", absl::StrJoin(rules_.users, ", "), "], groups [",
                      absl::StrJoin(rules_.groups, ", "), "]");
}

absl::Status Admins::Require(const Caller& caller, absl::string_view action) const {
  if (caller.admin) {
    spdlog::info("admin action by {}: {}", caller.Describe(), action);
    return absl::OkStatus();
  }
  spdlog::warn("refused {}: {} is not an admin", action, caller.Describe());
  return absl::PermissionDeniedError(absl::StrCat(
      caller.name, " may not ", action, ": only admins may (", Describe(),
      "; the `admins:` key of sfactoryd's config, or a token created with --admin)"));
}

absl::Status Admins::RequireOwnerOrAdmin(const Caller& caller, absl::string_view owner,
                                         absl::string_view action) const {
  if (caller.name == owner && !caller.admin) return absl::OkStatus();
  if (caller.admin) {
    if (caller.name != owner) spdlog::info("admin action by {}: {} (owner {})", caller.Describe(), action, owner);
    return absl::OkStatus();
  }
  spdlog::warn("refused {}: {} is neither its owner {} nor an admin", action, caller.Describe(), owner);
  return absl::PermissionDeniedError(absl::StrCat(
      caller.name, " may not ", action, ": only its owner (", owner, ") or an admin may (",
      Describe(), ")"));
}

}  // namespace sfactory::auth
