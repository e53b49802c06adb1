// Tile counts shared by the tiled kernels.
#pragma once

#include "core/types.hpp"

namespace wf::kernels {

/// \brief Number of tiles of `tile` rows that cover n rows (the last one may be short).
inline int tile_count(index_t n, int tile) { return static_cast<int>((n + tile - 1) / tile); }

}  // namespace wf::kernels
