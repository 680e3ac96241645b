# fastconvIsas.cmake — THE list of instruction sets fastconv compiles kernels for, with each
# one's compiler flags and level (the FASTCONV_CUSTOM_ISA value and the library's Isa enum):
#   FASTCONV_ISAS                 scalar avx2 avx512
#   FASTCONV_ISA_FLAGS_<isa>      flags of that ISA's translation units (never -march=native)
#   FASTCONV_ISA_LEVEL_<isa>      0, 1, 2
# Used by the library's per-ISA units and, installed with the package, by fastconv_add_custom_ops.
set(FASTCONV_ISAS scalar avx2 avx512)
set(FASTCONV_ISA_FLAGS_scalar "")
set(FASTCONV_ISA_FLAGS_avx2 "-mavx2;-mfma")
set(FASTCONV_ISA_FLAGS_avx512 "-mavx512f;-mavx2;-mfma")
set(FASTCONV_ISA_LEVEL_scalar 0)
set(FASTCONV_ISA_LEVEL_avx2 1)
set(FASTCONV_ISA_LEVEL_avx512 2)
