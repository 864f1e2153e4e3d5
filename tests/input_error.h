// The assertions that a call fails with an InputError saying the right thing, shared by the unit and parser
// tests.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "resnet/error.h"

namespace resnet::test {

// Runs `run`, which must throw InputError; returns its message ("" and a test failure otherwise).
inline std::string input_error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, but the call succeeded";
  return "";
}

// `run` must throw an InputError whose message contains every one of `parts`.
inline void expect_input_error(const std::function<void()>& run, const std::vector<std::string>& parts) {
  const std::string message = input_error_of(run);
  for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
}

inline void expect_input_error(const std::function<void()>& run, const char* part) {
  expect_input_error(run, std::vector<std::string>{part});
}

}  // namespace resnet::test
