// A seeded random generator for initialisation, dropout and data shuffling. Deterministic for a given seed on
// every platform (std::mt19937_64 + our own distributions, since std:: distributions differ across standard
// libraries).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace resnet {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : engine_(seed) {}

  // Uniform in [0, 1) with 53 random bits.
  double uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform01(); }
  // Standard normal (Box-Muller on two uniforms).
  double normal() {
    double u1 = uniform01();
    double u2 = uniform01();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return engine_() % n; }
  uint64_t next() { return engine_(); }

  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

}  // namespace resnet
