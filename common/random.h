// Cryptographically random identifiers (request ids, nonces) from OpenSSL.
#ifndef BERTH_COMMON_RANDOM_H_
#define BERTH_COMMON_RANDOM_H_

#include <cstddef>
#include <string>

namespace berth {

// 2 * `bytes` lowercase hex digits.
std::string RandomHex(size_t bytes);

}  // namespace berth

#endif  // BERTH_COMMON_RANDOM_H_
