// Errors. Every message says what and where, so a user can act on it:
//   "conv1.weight: expected [64,3,7,7], file has [64,1,7,7] (model.pth)".
#pragma once

#include <stdexcept>
#include <string>

namespace resnet {

// Bad input from the user: a file, a flag, a shape. The CLI prints the message and exits 2.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

// Something broke inside resnet.cpp (a oneDNN failure, a broken invariant). The CLI exits 1.
class InternalError : public std::runtime_error {
 public:
  explicit InternalError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace resnet
