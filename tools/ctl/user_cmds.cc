// berthctl users list|add|passwd|delete|admin: accounts (spec §2.3) as the
// frontends see them. Passwords are read from --password-file or the first
// line of stdin, never from the command line (ps would show it), and are
// hashed here before any command exists (MetadataClient::CreateUser).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tools/ctl/commands.h"
#include "tools/ctl/table.h"

namespace berth::ctl {
namespace {

using nlohmann::json;

// The frontend's sign-up rules (spec §2.3.1): [a-z0-9_]{4,30}, password
// of at least 5 characters, an email with one '@' inside.
bool ValidUsername(const std::string& u) {
  if (u.size() < 4 || u.size() > 30) return false;
  for (char c : u) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

bool ValidEmail(const std::string& e) {
  size_t at = e.find('@');
  return at != std::string::npos && at > 0 && at + 1 < e.size() &&
         e.find('@', at + 1) == std::string::npos;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "berthctl: %s\n", message.c_str());
  return kExitUsage;
}

// The first line of `file` ("-" or "" = stdin), without its newline.
std::optional<std::string> ReadPassword(const std::string& file) {
  std::string line;
  if (file.empty() || file == "-") {
    if (!std::getline(std::cin, line)) return std::nullopt;
  } else {
    std::ifstream in(file);
    if (!in || !std::getline(in, line)) return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Maps a command's domain error to an exit code (USER_NOT_FOUND -> 1).
int CommandFailed(const meta::CommandResult& r) {
  std::fprintf(stderr, "berthctl: %s\n", r.error().message().c_str());
  switch (r.error().reason()) {
    case USER_NOT_FOUND:
      return kExitNotFound;
    case USER_ALREADY_EXISTS:
    case INVALID_ARGUMENT:
      return kExitUsage;
    default:
      return kExitFailed;
  }
}

int Done(Context* ctx, const json& doc, const std::string& human) {
  if (ctx->flags.json) {
    std::cout << doc.dump() << "\n";
  } else {
    std::printf("%s\n", human.c_str());
  }
  return kExitOk;
}

int UsersList(Context* ctx) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  json users = json::array();
  meta::ListUsersRequest req;
  req.set_limit(1000);
  for (;;) {
    auto resp = (*client)->ListUsers(req);
    if (!resp.ok()) return ctx->Fail(resp.status());
    for (const meta::UserRecord& u : resp->users()) {
      users.push_back({{"username", u.username()},
                       {"emails", std::vector<std::string>(u.emails().begin(),
                                                           u.emails().end())},
                       {"admin", u.admin()},
                       {"active", u.active()},
                       {"created_unix", u.created_unix()}});
    }
    if (!resp->more() || resp->users_size() == 0) break;
    req.set_start_after(resp->users(resp->users_size() - 1).username());
  }
  if (ctx->flags.json) {
    std::cout << json{{"users", users}}.dump() << "\n";
    return kExitOk;
  }
  Table t({"USER", "ADMIN", "ACTIVE", "CREATED", "EMAILS"});
  for (const json& u : users) {
    std::vector<std::string> emails = u["emails"];
    t.Add({u["username"], u["admin"].get<bool>() ? "yes" : "no",
           u["active"].get<bool>() ? "yes" : "no",
           FormatUnixTime(u["created_unix"].get<int64_t>()),
           emails.empty() ? "-" : absl::StrJoin(emails, ",")});
  }
  t.Print();
  std::printf("%zu users\n", users.size());
  return kExitOk;
}

struct UserArgs {
  std::string name;
  std::string email;
  std::string password_file;
  bool admin = false;
  bool revoke = false;
};

int UsersAdd(Context* ctx, const UserArgs& a) {
  if (!ValidUsername(a.name)) {
    return Usage("username must be 4 to 30 characters of [a-z0-9_]");
  }
  if (!a.email.empty() && !ValidEmail(a.email)) {
    return Usage("invalid email address");
  }
  std::optional<std::string> password = ReadPassword(a.password_file);
  if (!password || password->size() < 5) {
    return Usage("the password (first line of --password-file or stdin) "
                 "must have at least 5 characters");
  }
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  auto r = (*client)->CreateUser(a.name, *password, a.email, a.admin,
                                 /*active=*/true,
                                 absl::ToUnixSeconds(absl::Now()));
  if (!r.ok()) return ctx->Fail(r.status());
  if (r->error().reason() != REASON_UNSPECIFIED) return CommandFailed(*r);
  return Done(ctx, {{"username", a.name}, {"created", true}, {"admin", a.admin}},
              absl::StrCat("user ", a.name, " created",
                           a.admin ? " (administrator)" : ""));
}

int UsersPasswd(Context* ctx, const UserArgs& a) {
  std::optional<std::string> password = ReadPassword(a.password_file);
  if (!password || password->size() < 5) {
    return Usage("the password (first line of --password-file or stdin) "
                 "must have at least 5 characters");
  }
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  auto r = (*client)->UpdateUser(a.name, *password, "", std::nullopt,
                                 std::nullopt);
  if (!r.ok()) return ctx->Fail(r.status());
  if (r->error().reason() != REASON_UNSPECIFIED) return CommandFailed(*r);
  return Done(ctx, {{"username", a.name}, {"password_changed", true}},
              absl::StrCat("password of ", a.name, " changed"));
}

int UsersAdmin(Context* ctx, const UserArgs& a) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  auto r = (*client)->UpdateUser(a.name, "", "", !a.revoke, std::nullopt);
  if (!r.ok()) return ctx->Fail(r.status());
  if (r->error().reason() != REASON_UNSPECIFIED) return CommandFailed(*r);
  return Done(ctx, {{"username", a.name}, {"admin", !a.revoke}},
              absl::StrCat(a.name, a.revoke ? " is no longer" : " is now",
                           " an administrator"));
}

int UsersDelete(Context* ctx, const UserArgs& a) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  meta::Command c;
  c.mutable_delete_user()->set_username(a.name);
  auto r = (*client)->Execute(std::move(c));
  if (!r.ok()) return ctx->Fail(r.status());
  if (r->error().reason() != REASON_UNSPECIFIED) return CommandFailed(*r);
  return Done(ctx, {{"username", a.name}, {"deleted", true}},
              absl::StrCat("user ", a.name,
                           " deleted (its repositories stay)"));
}

}  // namespace

void AddUserCommands(CLI::App& app, Context* ctx) {
  CLI::App* users = app.add_subcommand(
      "users", "accounts: list, add, passwd, delete, admin");
  users->require_subcommand(1);
  OnRun(users->add_subcommand("list", "every account (no password hashes)"),
        ctx, [ctx] { return UsersList(ctx); });

  auto add = std::make_shared<UserArgs>();
  CLI::App* add_cmd = users->add_subcommand(
      "add", "create an account (exit 2 if the name or email is taken)");
  add_cmd->add_option("name", add->name, "username, [a-z0-9_]{4,30}")
      ->required();
  add_cmd->add_option("--email", add->email, "email address");
  add_cmd->add_option("--password-file", add->password_file,
                      "file whose first line is the password (default: "
                      "first line of stdin)");
  add_cmd->add_flag("--admin", add->admin, "make it an administrator");
  OnRun(add_cmd, ctx, [ctx, add] { return UsersAdd(ctx, *add); });

  auto pw = std::make_shared<UserArgs>();
  CLI::App* pw_cmd = users->add_subcommand(
      "passwd", "set an account's password (exit 1 if unknown)");
  pw_cmd->add_option("name", pw->name, "username")->required();
  pw_cmd->add_option("--password-file", pw->password_file,
                     "file whose first line is the new password (default: "
                     "first line of stdin)");
  OnRun(pw_cmd, ctx, [ctx, pw] { return UsersPasswd(ctx, *pw); });

  auto del = std::make_shared<UserArgs>();
  CLI::App* del_cmd = users->add_subcommand(
      "delete", "delete an account (exit 1 if unknown)");
  del_cmd->add_option("name", del->name, "username")->required();
  OnRun(del_cmd, ctx, [ctx, del] { return UsersDelete(ctx, *del); });

  auto adm = std::make_shared<UserArgs>();
  CLI::App* adm_cmd = users->add_subcommand(
      "admin", "make an account an administrator (--revoke: no longer)");
  adm_cmd->add_option("name", adm->name, "username")->required();
  adm_cmd->add_flag("--revoke", adm->revoke, "take administrator rights away");
  OnRun(adm_cmd, ctx, [ctx, adm] { return UsersAdmin(ctx, *adm); });
}

}  // namespace berth::ctl
