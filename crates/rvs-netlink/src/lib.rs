//! rtnetlink glue for rvs: interfaces, routes, neighbour cache, addresses.
