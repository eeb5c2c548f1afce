// Private to the store's .cc files: how times are kept in the database.
#pragma once

#include <cstdint>

#include "google/protobuf/timestamp.pb.h"

namespace sfactory::store {

// Times are stored as unix microseconds.
int64_t ToMicros(const google::protobuf::Timestamp& ts);
google::protobuf::Timestamp TimestampFromMicros(int64_t micros);

}  // namespace sfactory::store
