// libFuzzer's driver entry point (compiler-rt, FuzzerDriver.cpp). SwiftPM renames an executable's entry
// point to `<Module>_main` and links `main` to it, so the targets call the driver themselves rather than
// using libFuzzer's own `main`.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
