# The README's commands. Each target bootstraps what it needs (scripts/bootstrap.sh is idempotent).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release -DRESNET_WERROR=ON

.PHONY: all bootstrap configure build test demo bench bench-train bench-peers bench-predict bench-unet fuzz clean format

all: build

bootstrap:
	@scripts/bootstrap.sh

configure: bootstrap
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@scripts/run_tests.sh $(BUILD_DIR)

demo: build
	@scripts/demo.sh $(BUILD_DIR)

bench: build
	@scripts/bench.sh $(BUILD_DIR)

bench-train: build
	@scripts/bench_train.sh $(BUILD_DIR)

bench-peers: build
	@bench/peers/run_peers.sh $(BUILD_DIR)

bench-predict: build
	@scripts/bench_predict.sh $(BUILD_DIR)

bench-unet: build
	@scripts/bench_unet.sh $(BUILD_DIR)

# libFuzzer harnesses (tests/fuzz/), 60 s each; FUZZ_SECONDS=N to change, FUZZ_TARGETS="npy cli" for some.
fuzz: build
	@scripts/fuzz.sh $(BUILD_DIR)

# The suite under ASan + UBSan (build-asan) and the threading tests under TSan (build-tsan):
# scripts/test_sanitize.sh, docs/RELIABILITY.md "Sanitizers".
.PHONY: test-sanitize
test-sanitize: bootstrap
	@JOBS=$(JOBS) scripts/test_sanitize.sh

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan

format:
	@find src include tests bench examples -name '*.cpp' -o -name '*.h' | xargs clang-format -i
