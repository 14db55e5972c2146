// Maps a request method and path to a v1 endpoint (spec §1.8, §2).
// Pure function, no I/O: names and ids are split out but not validated
// (validation happens after authentication, spec §2.0 check order).
#ifndef BERTH_FRONTEND_ROUTES_H_
#define BERTH_FRONTEND_ROUTES_H_

#include <string>

namespace berth::frontend {

enum class Endpoint {
  kPing,
  kRoot,
  kV2,              // always 404 (spec §1.9.7)
  kUsers,           // POST create, GET login
  kUser,            // PUT update
  kSearch,
  kImageJson,
  kImageLayer,
  kImageChecksum,
  kImageAncestry,
  kImageFiles,
  kImageDiff,
  kRepository,      // bare: PUT create, DELETE
  kRepoImages,
  kRepoTags,        // GET list, DELETE repository
  kRepoTag,
  kRepoTagJson,
  kRepoJson,
  kRepoAuth,
  kRepoLayerAccess,
  kRepoProperties,
};

struct Route {
  // 0 when a route was found; otherwise 404 or 405 (with `allow`).
  int error_status = 0;
  std::string allow;

  Endpoint endpoint = Endpoint::kRoot;
  // For repository endpoints: namespace ("library" for one-component names)
  // and repository, as sent.
  std::string ns;
  std::string repo;
  std::string image_id;
  std::string tag;
  std::string username;
  std::string query;  // after '?', undecoded
};

// `method` is the HTTP method as sent (HEAD is routed like GET).
Route ResolveRoute(const std::string& method, const std::string& target);

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_ROUTES_H_
