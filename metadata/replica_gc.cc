// Replica read for garbage collection's mark phase (PlanGarbage over one
// snapshot). Kept apart from replica_reads.cc: it scans every image.
#include "metadata/replica.h"
#include "metadata/store_view.h"

namespace berth::meta {

absl::StatusOr<ListGarbageImagesResponse> Replica::ListGarbageImages(
    const ListGarbageImagesRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  ScopedSnapshot snap(store_->db());
  StoreView view(*store_, snap.get());
  GarbagePlan plan =
      PlanGarbage(view, request.cutoff_unix_ms(), request.now_unix_ms());
  ListGarbageImagesResponse response;
  for (std::string& id : plan.garbage) response.add_garbage(std::move(id));
  response.set_images(plan.images);
  for (UploadIntent& intent : plan.open_uploads) {
    *response.add_open_uploads() = std::move(intent);
  }
  return response;
}

}  // namespace berth::meta
