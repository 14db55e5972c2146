// Name rules of spec §1.7 (pure functions).
#ifndef BERTH_FRONTEND_NAMES_H_
#define BERTH_FRONTEND_NAMES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace berth::frontend {

bool ValidImageId(absl::string_view id);     // 64 or 16 lowercase hex
bool ValidNamespace(absl::string_view ns);   // [a-z0-9_-]{2,255}, hyphen rules
bool ValidRepository(absl::string_view repo);  // [a-z0-9_.-]{1,255}
bool ValidTag(absl::string_view tag);        // [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

// Checks a repository route's name; returns "" when valid or the exact
// error message (spec §1.7: "Invalid namespace name" / "Invalid repository
// name"). `one_component` is true when the client sent no namespace.
std::string CheckRepositoryName(const std::string& ns, const std::string& repo,
                                bool one_component);

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_NAMES_H_
