// torch.save's zip container once it is open: load_pth (resnet/weights.h) opens the file; the fuzz harness
// (tests/fuzz/fuzz_pth_zip.cpp) opens an archive in memory.
#pragma once

#include <cstdint>
#include <string>

#include "io/zip_archive.h"
#include "resnet/module.h"

namespace resnet {

// The views of a file may materialise at most twice its storages' bytes plus this (stride-0 broadcasts of a
// small storage, a storage shared by two names); one view may repeat its storage up to this alone.
inline constexpr uint64_t kMaxRepeatedBytes = uint64_t{1} << 30;

// `path` names the archive in messages.
StateDict load_pth_archive(const ZipArchive& zip, const std::string& path);

}  // namespace resnet
