// Paths of output files, checked in plain language before anything is written: where the
// temporary file goes (a stale one is replaced without following a symlink; a directory in the
// way is an error), why a file cannot be created or written (permission, not a directory, no
// space), and whether an output would overwrite an input. Local calls (no MPI): OutputFile runs
// them on rank 0 and agrees on the result.
#pragma once

#include <string>

namespace wf::io {

/// \brief Makes `temporary` an empty regular file created by this call: a stale file or symlink
/// there is removed (never followed), a directory there is an error. Throws wf::Error naming the
/// path and the reason in words ("permission denied", "'results' is not a directory", ...).
void prepare_temporary_file(const std::string& path, const std::string& temporary);

/// \brief Why writing under `path` may have failed, in words ("no space left on the device of
/// 'dir' (12 KiB free)", "permission denied ..."), or "" when nothing obvious is wrong.
std::string write_failure_hint(const std::string& path);

/// \brief An errno value in words, for file messages ("permission denied", "no space left on device").
std::string plain_reason(int error_number);

/// \brief True when `a` and `b` name the same file: the same inode when both exist, otherwise the
/// same absolute, normalised path. Empty paths are never the same file.
bool same_file(const std::string& a, const std::string& b);

}  // namespace wf::io
