// Declarations only (CFuzzer.h); the driver comes from libclang_rt.fuzzer at link time.
#include "CFuzzer.h"
