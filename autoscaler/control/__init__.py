"""The controller: one pass for one autoscaler (observe, decide, act, record) and the loop."""
