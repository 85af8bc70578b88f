# flashquad build. `make` builds build/flashquad, `make test` runs the GoogleTest suite.
#   ARCH=...      -march value (default native)
#   SANITIZE=1    AddressSanitizer + UndefinedBehaviorSanitizer build in build/sanitize
#   OPENMP=0      build without OpenMP (same results, one thread for our kernels)
#   CONFIG=name   configs/name.json for train, eval, data
#   RESUME=auto|PATH, CHECKPOINT=PATH, SET="key=value ..." pass through to the binary

ARCH     ?= native
SANITIZE ?= 0
OPENMP   ?= 1
CONFIG   ?= tiny

CXX      ?= g++
BLAS_INC := /usr/include/x86_64-linux-gnu/openblas-openmp
BLAS_LIB := /usr/lib/x86_64-linux-gnu/openblas-openmp

ifeq ($(SANITIZE),1)
  BUILD    := build/sanitize
  OPTFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDSAN    := -fsanitize=address,undefined
else ifeq ($(OPENMP),0)
  BUILD    := build/noomp
  OPTFLAGS := -O3 -march=$(ARCH) -g1
else
  BUILD    := build
  OPTFLAGS := -O3 -march=$(ARCH) -g1
endif

ifeq ($(OPENMP),1)
  OMPFLAGS := -fopenmp
else
  OMPFLAGS := -Wno-unknown-pragmas
endif

CXXFLAGS := -std=c++17 -Wall -Wextra -Wno-unused-parameter $(OPTFLAGS) $(OMPFLAGS) \
            -I. -isystem $(BLAS_INC) -MMD -MP
LDFLAGS  := $(LDSAN) $(OMPFLAGS) -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB)
LDLIBS   := -lopenblas -licui18n -licuuc -licudata -lpthread

LIB_SRCS  := $(filter-out train/main.cpp,$(wildcard core/*.cpp nn/*.cpp optim/*.cpp data/*.cpp train/*.cpp))
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o)
TEST_SRCS := $(wildcard tests/*.cpp tests/*/*.cpp)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libflashquad.a
BIN       := $(BUILD)/flashquad
TEST_BIN  := $(BUILD)/flashquad_tests
BENCH_SRCS := $(wildcard bench/*.cpp)
BENCH_OBJS := $(BENCH_SRCS:%.cpp=$(BUILD)/obj/%.o)
BENCH_BIN := $(BUILD)/flashquad_bench
DEPS_OK   := build/.deps-ok

FQ_ARGS = $(if $(RESUME),--resume $(RESUME)) $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT)) \
          $(foreach s,$(SET),--set $(s))

.PHONY: all test clean deps train eval data bench
all: $(BIN)

# Installs missing Debian packages once; the stamp is redone when a header disappears.
$(DEPS_OK): scripts/install_deps.sh
	@mkdir -p build
	@for h in $(BLAS_INC)/cblas.h /usr/include/cereal/cereal.hpp /usr/include/gtest/gtest.h \
	          /usr/include/nlohmann/json.hpp /usr/include/CLI/CLI.hpp /usr/include/unicode/unistr.h \
	          /usr/bin/gnuplot; do \
	  if [ ! -e $$h ]; then echo "make: $$h is missing; running scripts/install_deps.sh"; \
	    bash scripts/install_deps.sh || exit 1; break; fi; \
	done
	@touch $@
deps: $(DEPS_OK)

$(BUILD)/obj/%.o: %.cpp | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/obj/train/main.o $(LIB)
	$(CXX) $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(TEST_BIN): $(TEST_OBJS) $(LIB)
	$(CXX) $^ -o $@ $(LDFLAGS) $(LDLIBS) -lgtest -lpthread

$(BENCH_BIN): $(BENCH_OBJS) $(LIB)
	$(CXX) $^ -o $@ $(LDFLAGS) $(LDLIBS)

test: $(TEST_BIN) $(BIN)
	FLASHQUAD_BIN=$(abspath $(BIN)) $(TEST_BIN) --gtest_brief=1

train: $(BIN)
	$(BIN) train --config configs/$(CONFIG).json $(FQ_ARGS)

eval: $(BIN)
	$(BIN) eval --config configs/$(CONFIG).json $(FQ_ARGS)

data: $(BIN)
	$(BIN) prepare --config configs/$(CONFIG).json $(FQ_ARGS)

bench: $(BIN) $(BENCH_BIN)
	bash bench/run.sh $(BIN) $(BENCH_BIN)

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(BENCH_OBJS:.o=.d) $(BUILD)/obj/train/main.d
