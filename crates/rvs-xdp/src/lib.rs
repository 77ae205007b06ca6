//! rvs's BPF programs (bpf/*.c, compiled by build.rs with clang) and their aya loaders and typed maps.
