// load_weights: picks the reader by the file's content, not its name (".pth", ".pt", ".bin" and
// ".safetensors" are all seen holding either format).
#include "resnet/weights.h"

#include <fmt/format.h>

#include "io/input_file.h"
#include "resnet/error.h"

namespace resnet {

StateDict load_weights(const std::string& path) {
  const std::string head = InputFile(path).head(9);
  // safetensors: an 8-byte header length, then the JSON header. Checked first: the length's low bytes can be
  // anything, including "PK" or 0x80, while byte 8 of a zip (compression method) or a pickle is never '{'.
  if (head.size() == 9 && head[8] == '{') return load_safetensors(path);
  // torch.save: a zip archive ("PK"), or the legacy pickle stream (0x80 PROTO) that load_pth explains.
  if (head.starts_with("PK") || (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80))
    return load_pth(path);
  throw InputError(fmt::format(
      "{}: unknown weight file format (expected safetensors or a torch.save .pth zip archive)", path));
}

}  // namespace resnet
