// Recursive removal of a directory tree of any depth: fd-relative (openat2 / getdents64 /
// unlinkat), iterative (no recursion, no PATH_MAX limit), never following a symlink and never
// crossing into another mount. Used by the addon's removeTree (on the thread pool).
#pragma once
#include <string>

namespace garden {

struct TreeError {
  int err = 0;
  const char* syscall = "";
  std::string path;  // the entry that could not be opened, read or removed
};

/**
 * Removes `path` and everything below it. A missing `path` is success; a `path` that is a file or
 * a symlink is unlinked (the link itself). An entry that cannot be removed (a mount point below
 * `path`: EXDEV for a directory, EBUSY for a file; anything else the kernel refuses) is left
 * untouched together with its ancestors, everything else is removed, and the first failure is
 * reported in `error` (false). Listing failures stop the walk at once.
 */
bool RemoveTree(const std::string& path, TreeError& error);

}  // namespace garden
