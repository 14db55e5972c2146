// Apply for users and cluster config (token secrets, shard map).
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "metadata/state_machine.h"

namespace berth::meta::internal {
namespace {

CommandResult Ok() { return CommandResult(); }

// The owner of an email in the uniqueness index, if any.
std::optional<std::string> EmailOwner(const StateView& state,
                                      const std::string& email) {
  return state.Get(Table::kEmails, absl::AsciiStrToLower(email));
}

CommandResult ApplyCreateUser(const CreateUser& cmd, const StateView& state,
                              StateWriter* writer) {
  if (cmd.username().empty()) return Fail(INVALID_ARGUMENT, "empty username");
  if (cmd.password_hash().empty()) {
    return Fail(INVALID_ARGUMENT, "no password hash");
  }
  if (state.GetUser(cmd.username()) ||
      (!cmd.email().empty() && EmailOwner(state, cmd.email()))) {
    return Fail(USER_ALREADY_EXISTS, "Username or email already exists");
  }
  UserRecord user;
  user.set_username(cmd.username());
  if (!cmd.email().empty()) {
    user.add_emails(cmd.email());
    writer->Put(Table::kEmails, absl::AsciiStrToLower(cmd.email()),
                cmd.username());
  }
  user.set_password_hash(cmd.password_hash());
  user.set_admin(cmd.admin());
  user.set_active(cmd.active());
  user.set_created_unix(cmd.now_unix());
  writer->PutUser(user);
  return Ok();
}

CommandResult ApplyUpdateUser(const UpdateUser& cmd, const StateView& state,
                              StateWriter* writer) {
  std::optional<UserRecord> user = state.GetUser(cmd.username());
  if (!user) return Fail(USER_NOT_FOUND, "User not found");
  if (!cmd.add_email().empty()) {
    std::optional<std::string> owner = EmailOwner(state, cmd.add_email());
    if (owner && *owner != cmd.username()) {
      return Fail(USER_ALREADY_EXISTS, "Email already in use");
    }
    if (!owner) {
      user->add_emails(cmd.add_email());
      writer->Put(Table::kEmails, absl::AsciiStrToLower(cmd.add_email()),
                  cmd.username());
    }
  }
  if (!cmd.password_hash().empty()) {
    user->set_password_hash(cmd.password_hash());
  }
  if (cmd.has_admin()) user->set_admin(cmd.admin());
  if (cmd.has_active()) user->set_active(cmd.active());
  writer->PutUser(*user);
  return Ok();
}

CommandResult ApplyDeleteUser(const DeleteUser& cmd, const StateView& state,
                              StateWriter* writer) {
  std::optional<UserRecord> user = state.GetUser(cmd.username());
  if (!user) return Fail(USER_NOT_FOUND, "User not found");
  for (const std::string& email : user->emails()) {
    // Only index entries that still point at this user.
    const std::string key = absl::AsciiStrToLower(email);
    if (EmailOwner(state, email) == cmd.username()) {
      writer->Delete(Table::kEmails, key);
    }
  }
  writer->Delete(Table::kUsers, cmd.username());
  return Ok();
}

CommandResult ApplyInitTokenSecret(const InitTokenSecret& cmd,
                                   const StateView& state,
                                   StateWriter* writer) {
  if (cmd.secret().size() < 16) {
    return Fail(INVALID_ARGUMENT, "token secret shorter than 16 bytes");
  }
  ClusterConfig config = state.GetConfig();
  if (config.token_secrets_size() > 0) return Ok();  // first one stands
  config.add_token_secrets(cmd.secret());
  writer->PutConfig(config);
  return Ok();
}

CommandResult ApplyRotateTokenSecret(const RotateTokenSecret& cmd,
                                     const StateView& state,
                                     StateWriter* writer) {
  if (cmd.secret().size() < 16) {
    return Fail(INVALID_ARGUMENT, "token secret shorter than 16 bytes");
  }
  ClusterConfig config = state.GetConfig();
  std::string previous =
      config.token_secrets_size() > 0 ? config.token_secrets(0) : "";
  config.clear_token_secrets();
  config.add_token_secrets(cmd.secret());
  if (!previous.empty()) config.add_token_secrets(previous);
  writer->PutConfig(config);
  return Ok();
}

CommandResult ApplyPutShard(const PutShard& cmd, const StateView& state,
                            StateWriter* writer) {
  if (cmd.shard().id().empty() || cmd.shard().address().empty()) {
    return Fail(INVALID_ARGUMENT, "shard needs an id and an address");
  }
  ClusterConfig config = state.GetConfig();
  std::vector<ShardInfo> shards(config.shards().begin(),
                                config.shards().end());
  auto it = std::find_if(shards.begin(), shards.end(), [&](const ShardInfo& s) {
    return s.id() == cmd.shard().id();
  });
  if (it != shards.end()) {
    *it = cmd.shard();
  } else {
    shards.push_back(cmd.shard());
  }
  std::sort(shards.begin(), shards.end(),
            [](const ShardInfo& a, const ShardInfo& b) { return a.id() < b.id(); });
  config.clear_shards();
  for (auto& s : shards) *config.add_shards() = std::move(s);
  config.set_shard_map_version(config.shard_map_version() + 1);
  writer->PutConfig(config);
  return Ok();
}

CommandResult ApplyRemoveShard(const RemoveShard& cmd, const StateView& state,
                               StateWriter* writer) {
  ClusterConfig config = state.GetConfig();
  auto* shards = config.mutable_shards();
  auto it = std::find_if(shards->begin(), shards->end(),
                         [&](const ShardInfo& s) { return s.id() == cmd.id(); });
  if (it == shards->end()) {
    return Fail(SHARD_NOT_FOUND, absl::StrCat("Shard not found: ", cmd.id()));
  }
  shards->erase(it);
  config.set_shard_map_version(config.shard_map_version() + 1);
  writer->PutConfig(config);
  return Ok();
}

}  // namespace

CommandResult ApplyAccountCommand(const Command& command,
                                  const StateView& state, StateWriter* writer) {
  switch (command.op_case()) {
    case Command::kCreateUser:
      return ApplyCreateUser(command.create_user(), state, writer);
    case Command::kUpdateUser:
      return ApplyUpdateUser(command.update_user(), state, writer);
    case Command::kDeleteUser:
      return ApplyDeleteUser(command.delete_user(), state, writer);
    case Command::kInitTokenSecret:
      return ApplyInitTokenSecret(command.init_token_secret(), state, writer);
    case Command::kRotateTokenSecret:
      return ApplyRotateTokenSecret(command.rotate_token_secret(), state,
                                    writer);
    case Command::kPutShard:
      return ApplyPutShard(command.put_shard(), state, writer);
    case Command::kRemoveShard:
      return ApplyRemoveShard(command.remove_shard(), state, writer);
    default:
      return Fail(INVALID_ARGUMENT, "not an account command");
  }
}

}  // namespace berth::meta::internal
