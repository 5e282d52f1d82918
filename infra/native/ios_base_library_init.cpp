// Defines std::ios_base_library_init(), which GCC 13 emits a call to in every file that includes
// <iostream> and which libstdc++ exports only from GLIBCXX_3.4.32 on. Debian 12's libstdc++ (GCC 12)
// lacks it; this library supplies it to TorchSharp's libLibTorchSharp.so (see prepare-torchsharp.sh).
// The body does what GCC 13's version does: make sure the standard streams are constructed once.
#include <ios>

namespace std {
void ios_base_library_init();
void ios_base_library_init() { static ios_base::Init init; }
}
