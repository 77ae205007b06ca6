//! rvsd's control-socket protocol (requests, replies, framing) and its client.
