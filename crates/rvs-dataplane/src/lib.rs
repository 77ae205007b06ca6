//! rvs's data plane: AF_XDP workers running the packet engine.
