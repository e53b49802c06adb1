// A 64-bit checksum of bytes (FNV-1a): per-dataset checksums of checkpoints, and the hash the
// ranks compare to agree on their configuration. Not cryptographic: it catches changed bytes
// (a flipped bit, a truncated copy, an edit), not an adversary who recomputes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wf::io {

/// \brief FNV-1a over `bytes` bytes at `data`, continuing from `hash` (the offset basis by default).
inline std::uint64_t checksum_bytes(const void* data, std::size_t bytes,
                                    std::uint64_t hash = 0xcbf29ce484222325ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

/// \brief checksum_bytes of a text.
inline std::uint64_t checksum_text(const std::string& text) { return checksum_bytes(text.data(), text.size()); }

/// \brief A checksum as 16 lowercase hex digits (how checkpoints store it).
inline std::string checksum_hex(std::uint64_t hash) {
  static const char digits[] = "0123456789abcdef";
  std::string text(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) text[static_cast<std::size_t>(i)] = digits[hash & 15];
  return text;
}

}  // namespace wf::io
