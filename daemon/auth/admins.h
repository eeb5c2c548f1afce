// Who is an admin: root, the users and the members of the groups the config
// names (`admins: {users: [...], groups: [...]}`), and tokens created with
// --admin. Group membership is read from the system (getgrouplist) at each
// check, so a change to /etc/group takes effect without a restart.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "daemon/auth/caller.h"

namespace sfactory::auth {

struct AdminRules {
  std::vector<std::string> users;
  std::vector<std::string> groups;
};

// The user name of `uid`, or "uid-N" when it has no passwd entry.
std::string UserName(uid_t uid);
// Names of every group `user` belongs to (primary and supplementary).
std::vector<std::string> GroupsOf(const std::string& user, gid_t primary_gid);
// Whether the local user `uid` is a member of `group` (primary or
// supplementary). False when either does not exist.
bool InGroup(uid_t uid, absl::string_view group);

class Admins {
 public:
  explicit Admins(AdminRules rules) : rules_(std::move(rules)) {}

  // For a local user: root, a listed user, or a member of a listed group.
  bool IsAdminUser(uid_t uid) const;
  // For a name without a local account (certificate CN): listed users only.
  bool IsAdminName(absl::string_view name) const;

  // OK for admins. PermissionDenied otherwise: "<caller> may not <action>:
  // only admins may (admins: users [...], groups [...] in the config)".
  // The refusal is logged with the caller's identity; so is an allowed
  // action when `log_allowed`.
  absl::Status Require(const Caller& caller, absl::string_view action) const;
  // OK for `owner` itself and for admins; PermissionDenied (logged) else.
  absl::Status RequireOwnerOrAdmin(const Caller& caller, absl::string_view owner,
                                   absl::string_view action) const;

  // "users [root, alice], groups [sfactory-admin]" for messages.
  std::string Describe() const;

 private:
  AdminRules rules_;
};

}  // namespace sfactory::auth
