// Names and predicates of v1::BuildState, shared by the client and the daemon.
#pragma once

#include "sfactory/v1/sfactory.pb.h"

namespace sfactory {

// "queued", "running", "succeeded", "failed", "cancelled" ("unknown" else).
inline const char* BuildStateName(v1::BuildState state) {
  switch (state) {
    case v1::BUILD_STATE_QUEUED: return "queued";
    case v1::BUILD_STATE_RUNNING: return "running";
    case v1::BUILD_STATE_SUCCEEDED: return "succeeded";
    case v1::BUILD_STATE_FAILED: return "failed";
    case v1::BUILD_STATE_CANCELLED: return "cancelled";
    default: return "unknown";
  }
}

// True once a build can no longer change state.
inline bool IsTerminal(v1::BuildState state) {
  return state == v1::BUILD_STATE_SUCCEEDED || state == v1::BUILD_STATE_FAILED ||
         state == v1::BUILD_STATE_CANCELLED;
}

}  // namespace sfactory
