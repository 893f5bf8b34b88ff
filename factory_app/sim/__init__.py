"""The simulated plant: deterministic machine models served by real asyncua OPC UA servers."""
